"""OmniMoE Studio: a multimodal mixture-of-experts studio (pictures, sounds, chat, drawing)."""
