"""Packed rows: a batch's examples laid end to end in a few rows for the language model, and back to one row each.

Padded to its longest example, a language-model batch is about 55 % padding. Packed, each row holds several
examples one after another; the position ids start again at 0 with every example, and the model (transformers'
packed-sequence masks, use_cache off) lets a token attend only to the earlier tokens of its own example. So every
example's logits and attention weights are those it has alone, and the losses read them back in the padded layout.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Packing:
    """Where each example of a padded (B, T) batch lies in the packed (R, L) rows."""

    rows: torch.Tensor      # (B,) the packed row that holds each example
    starts: torch.Tensor    # (B,) where in that row it starts
    lengths: torch.Tensor   # (B,) its number of tokens
    shape: tuple[int, int]  # (R, L)

    @classmethod
    def first_fit(cls, lengths: list[int]) -> "Packing":
        """Longest first, each example into the first row with room left; a row holds as many tokens as the
        longest example, so the longest ones have a row each and the short ones fill the rest."""
        check_lengths(lengths)
        width, free = max(lengths), []                      # free: tokens left in each row so far
        rows, starts = [0] * len(lengths), [0] * len(lengths)
        for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
            row = next((r for r, left in enumerate(free) if left >= lengths[index]), len(free))
            if row == len(free):
                free.append(width)
            rows[index], starts[index] = row, width - free[row]
            free[row] -= lengths[index]
        return cls(torch.tensor(rows), torch.tensor(starts), torch.tensor(lengths), (len(free), width))

    @classmethod
    def one_per_row(cls, lengths: list[int]) -> "Packing":
        """Each example in a row of its own, as padded: nothing is packed."""
        check_lengths(lengths)
        count = len(lengths)
        return cls(torch.arange(count), torch.zeros(count, dtype=torch.long), torch.tensor(lengths),
                   (count, max(lengths)))

    def padded_index(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(flat, inside), each (B, length): for each padded position, its place in the flattened packed rows
        (R * L), and whether it holds one of the example's tokens (else flat points at the example's start)."""
        positions = torch.arange(length)[None, :]                                          # (1, length)
        inside = positions < self.lengths[:, None]                                         # (B, length)
        flat = (self.rows * self.shape[1] + self.starts)[:, None] + positions * inside     # (B, length)
        return flat, inside

    def position_ids(self) -> torch.Tensor:
        """(R, L): each example's positions from 0; the padding after a row's last example counts from 0 too, so
        that it is a sequence of its own that no example attends to."""
        rows, width = self.shape
        positions = torch.arange(width).repeat(rows, 1)                                    # (R, L)
        ends = torch.zeros(rows, dtype=torch.long).scatter_reduce(
            0, self.rows, self.starts + self.lengths, reduce="amax")                       # (R,) end of the last
        positions -= torch.where(positions >= ends[:, None], ends[:, None], 0)
        flat, inside = self.padded_index(int(self.lengths.max()))
        positions.view(-1)[flat[inside]] = torch.arange(flat.shape[1]).expand_as(flat)[inside]
        return positions

    def token_mask(self) -> torch.Tensor:
        """(R, L) bool: True where an example's token lies, False on padding."""
        mask = torch.zeros(self.shape, dtype=torch.bool)
        flat, inside = self.padded_index(int(self.lengths.max()))
        mask.view(-1)[flat[inside]] = True
        return mask

    def pack(self, padded: torch.Tensor, fill: float = 0) -> torch.Tensor:
        """(B, T, ...) -> (R, L, ...): each example's first `length` positions into its place; `fill` elsewhere."""
        flat, inside = self.padded_index(padded.shape[1])
        flat, inside = flat.to(padded.device), inside.to(padded.device)
        packed = padded.new_full((self.shape[0] * self.shape[1], *padded.shape[2:]), fill)
        packed = packed.index_copy(0, flat[inside], padded[inside])
        return packed.view(*self.shape, *padded.shape[2:])

    def unpack(self, packed: torch.Tensor, length: int) -> torch.Tensor:
        """(R, L, ...) -> (B, length, ...): each example's values back in a row of its own, zeros past its end."""
        flat, inside = self.padded_index(length)
        flat, inside = flat.to(packed.device), inside.to(packed.device)
        values = packed.reshape(self.shape[0] * self.shape[1], *packed.shape[2:])[flat]      # (B, length, ...)
        return values * inside.view(*inside.shape, *[1] * (values.dim() - 2)).to(values.dtype)

    def unpack_tokens(self, flat: torch.Tensor, length: int) -> torch.Tensor:
        """Per-token values of the packed rows flattened, (R * L, ...) -> (B * length, ...), as unpack does."""
        unpacked = self.unpack(flat.view(*self.shape, *flat.shape[1:]), length)              # (B, length, ...)
        return unpacked.reshape(-1, *flat.shape[1:])

    def unpack_attention(self, packed: torch.Tensor, length: int) -> torch.Tensor:
        """Attention weights (R, heads, L, L) -> (B, heads, length, length): each example's queries over its own
        keys, zeros past its end."""
        flat, inside = self.padded_index(length)
        flat, inside = flat.to(packed.device), inside.to(packed.device)
        within = flat - (self.rows * self.shape[1]).to(packed.device)[:, None]             # (B, length) in its row
        weights = packed[self.rows.to(packed.device)]                                      # (B, heads, L, L)
        heads = weights.shape[1]
        weights = weights.gather(2, within[:, None, :, None].expand(-1, heads, -1, self.shape[1]))
        weights = weights.gather(3, within[:, None, None, :].expand(-1, heads, length, -1))
        both = inside[:, None, :, None] & inside[:, None, None, :]                         # (B, 1, length, length)
        return weights * both.to(weights.dtype)


def check_lengths(lengths: list[int]) -> None:
    """Raise ValueError, naming the lengths, unless there is at least one example and each has a token."""
    if not lengths or min(lengths) < 1:
        raise ValueError(f"every example needs at least one token; got lengths {lengths}")
