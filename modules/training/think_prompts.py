"""Multi-step questions as the built-in language model reads them: the chat prompt with each picture's and sound's
prefix at its marker, the answer opened with <think> or not, and answers decoded greedily."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..language_model import MEDIA_MARKERS
from ..reasoning import THINKING_OPENER, open_thinking
from ..world.multistep import MultiStepItem
from ..world.pictures import render_scene
from ..world.sounds import synthesize
from .grpo import Prompt, sample_replies, written_ids


def question_prompt(tokenizer, question: str, media: dict[str, list[torch.Tensor]], thinking: bool,
                    item=None) -> Prompt:
    """The user's turn through the chat template, as the studio renders it, with one marker per picture or sound
    (pictures first) repeated once per prefix token; thinking: the answer opened as open_thinking opens it.
    media: kind ("image" | "audio") -> each one's prefix (tokens, H)."""
    kinds = [kind for kind, prefixes in media.items() for _ in prefixes]
    content = "".join(MEDIA_MARKERS[kind] for kind in kinds) + question
    text = tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                         add_generation_prompt=True)
    ids = tokenizer.encode(open_thinking(text) if thinking else text, add_special_tokens=False)
    lengths, prefixes = {}, {}
    for kind, made in media.items():
        if made:
            marker = tokenizer.convert_tokens_to_ids(MEDIA_MARKERS[kind])
            prefixes[marker] = torch.stack(made)                                          # (n, tokens, H)
            lengths[marker] = prefixes[marker].shape[1]
    expanded = [t for token in ids for t in [token] * lengths.get(token, 1)]
    return Prompt(torch.tensor(expanded), prefixes, item)


@dataclass
class Perception:
    """The saved suite's frozen picture and sound encoders and prefix bridge, through the studio's own classes:
    the prefixes a question's pictures and sounds become, as the studio makes them."""

    image_encoder: object
    audio_encoder: object
    bridge: object

    @classmethod
    def load(cls, folder: Path, device: torch.device) -> "Perception":
        from ..bridge import Bridge
        from ..encoders.audio import AudioEncoder
        from ..encoders.image import ImageEncoder
        f32 = torch.float32
        return cls(ImageEncoder.load(f"local-dir:{Path(folder) / 'image_encoder'}", device, f32),
                   AudioEncoder.load(str(Path(folder) / "audio_encoder"), device, f32),
                   Bridge.load(str(Path(folder) / "bridge"), device, f32))

    def media(self, item: MultiStepItem) -> dict[str, list[torch.Tensor]]:
        """kind -> the prefixes (tokens, H) of the item's pictures, then of its sounds, in order."""
        return self.media_of(item.scenes, item.sounds)

    def media_of(self, scenes, sounds) -> dict[str, list[torch.Tensor]]:
        """kind -> the prefixes (tokens, H) of the scenes' pictures (drawn the world's way) and the sounds' waves."""
        pictures = [self.image_encoder.encode(render_scene(scene)) for scene in scenes]
        heard = [self.audio_encoder.encode(synthesize(sound)) for sound in sounds]
        # made under inference mode: cloned so that the training graph may read them
        return {"image": [self.bridge.prefix("image", p.tokens, p.embedding).clone() for p in pictures],
                "audio": [self.bridge.prefix("audio", s.tokens).clone() for s in heard]}

    def prompt(self, tokenizer, item: MultiStepItem, thinking: bool) -> Prompt:
        return question_prompt(tokenizer, item.question, self.media(item), thinking, item)


def answer_text(model, tokenizer, prompt: Prompt, thinking: bool, max_tokens: int) -> str:
    """The model's greedy reply as a person reads it: from the <think> that opened it when thinking."""
    replies, mask = sample_replies(model, prompt, 1, max_tokens, 0.0, end_ids(model, tokenizer),
                                   tokenizer.pad_token_id)
    text = tokenizer.decode(written_ids(replies[0], mask[0], end_ids(model, tokenizer)), skip_special_tokens=True)
    return (THINKING_OPENER + text) if thinking else text


def end_ids(model, tokenizer) -> list[int]:
    """The tokens that end a reply."""
    eos = model.generation_config.eos_token_id or tokenizer.eos_token_id
    return list(eos) if isinstance(eos, (list, tuple)) else [eos]
