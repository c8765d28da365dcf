"""Encoders that bring pictures and sounds into a shared text space."""
