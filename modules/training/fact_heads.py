"""Auxiliary loss: every fact about a picture or a sound, read linearly from the mean of the bridge's tokens for it.

The picture's cells let the language model caption by reading the places in order, but questions ask it to find
one fact wherever it is ("Is there a circle?", "What color is the triangle?"): at 2,500 steps it had not learnt to
search the cells (yes/no questions about shapes were right about 60 % of the time, as often as always saying no),
and the background, which no caption names, was at chance. A linear head asked for every fact of the scene from
the mean of the picture's cells (what attention spread evenly over them reads) puts each fact where the model
reads it the same way for every picture; for a sound, from the mean of its summary tokens. With them (and the
per-example loss) background questions went from chance to 26 of 26 and every-content sound descriptions in
Chinese from 0.77 to 0.94; yes/no questions stayed near the odds of "No". The heads are dropped after training;
the saved bridge is unchanged in form.
"""
from __future__ import annotations

from typing import Callable, Hashable

import torch
import torch.nn.functional as F
from torch import nn

from ..world.pictures import BACKGROUNDS, COLORS, POSITIONS, SHAPES, Scene
from ..world.sounds import COUNT_WORDS_EN, KINDS, PITCHES, TIMBRES, Sound

SCENE_FACTS: list[tuple] = (
    [("shape", s) for s in sorted(SHAPES)] + [("color", c) for c in sorted(COLORS)]
    + [("count", n) for n in (1, 2, 3)] + [("background", b) for b in sorted(BACKGROUNDS)]
    + [("shape color", s, c) for s in sorted(SHAPES) for c in sorted(COLORS)]
    + [("shape place", s, p) for s in sorted(SHAPES) for p in sorted(POSITIONS)]
    + [("color place", c, p) for c in sorted(COLORS) for p in sorted(POSITIONS)])

SOUND_FACTS: list[tuple] = (
    [("kind", k) for k in sorted(KINDS)] + [("pitch", p) for p in sorted(PITCHES)]
    + [("timbre", t) for t in sorted(TIMBRES)] + [("count", n) for n in sorted(COUNT_WORDS_EN)])


def scene_facts(scene: Scene) -> set[tuple]:
    """What is true of the scene, in SCENE_FACTS' terms."""
    facts = {("count", len(scene.objects)), ("background", scene.background)}
    for o in scene.objects:
        facts |= {("shape", o.shape), ("color", o.color), ("shape color", o.shape, o.color),
                  ("shape place", o.shape, o.position), ("color place", o.color, o.position)}
    return facts


def sound_facts(sound: Sound) -> set[tuple]:
    """What is true of the sound, in SOUND_FACTS' terms (pitch, timbre and count only where the kind has them)."""
    facts = {("kind", sound.kind), ("pitch", sound.pitch), ("timbre", sound.timbre), ("count", sound.count)}
    return {fact for fact in facts if fact[1] is not None}


class FactHead(nn.Module):
    """One logit per fact, from the mean of an item's tokens, normalised (the sound's summary tokens are large: the
    first losses were about 50); trained with binary cross-entropy."""

    def __init__(self, width: int, facts: list[tuple], facts_of: Callable[[Hashable], set[tuple]]):
        super().__init__()
        self.facts, self.facts_of = facts, facts_of
        self.head = nn.Sequential(nn.LayerNorm(width, elementwise_affine=False), nn.Linear(width, len(facts)))

    def targets(self, items: list) -> torch.Tensor:
        """(n, facts) 1.0 where the fact holds."""
        return torch.tensor([[float(f in self.facts_of(item)) for f in self.facts] for item in items])

    def loss(self, tokens: torch.Tensor, items: list) -> torch.Tensor:
        """tokens (n, tokens, width); items: what each row shows -> mean binary cross-entropy over facts."""
        logits = self.head(tokens.mean(dim=1))                                          # (n, facts)
        return F.binary_cross_entropy_with_logits(logits, self.targets(items).to(logits.device))

    @torch.no_grad()
    def accuracy(self, tokens: torch.Tensor, items: list) -> float:
        """Share of items whose every fact the head gets right."""
        said = self.head(tokens.mean(dim=1)) > 0
        return (said.cpu() == self.targets(items).bool()).all(dim=1).float().mean().item()


def scene_fact_head(width: int) -> FactHead:
    return FactHead(width, SCENE_FACTS, scene_facts)


def sound_fact_head(width: int) -> FactHead:
    return FactHead(width, SOUND_FACTS, sound_facts)
