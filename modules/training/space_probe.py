"""What a picture-text space keeps of each attribute: `python -m modules.training.space_probe F [F ...]` prints, for
each folder's image_encoder (a suite folder such as assets/mini), how close pictures and captions come out when only
one object's colour, shape, size or place differs, how often the world's single objects are retrieved with the right
shape, and (with --decoder D) how that encoder judges D's drawings of every colour and shape."""
from __future__ import annotations

import argparse
import itertools
import random
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..encoders.image import ImageEncoder
from .evaluate import SingleObjectJudge
from ..world.pictures import COLORS, POSITIONS, SHAPES, SIZES, Scene, SceneObject, caption_en, render_scene

ATTRIBUTES = {"color": COLORS, "shape": SHAPES, "size": SIZES, "position": POSITIONS}
PAIRS = 30                 # object pairs per attribute
SINGLES = 60               # single objects retrieved among every single-object caption


def random_object(rng: random.Random) -> SceneObject:
    return SceneObject(*(rng.choice(sorted(ATTRIBUTES[name])) for name in ("color", "shape", "size", "position")))


def attribute_cosines(encoder: ImageEncoder, attribute: str, rng: random.Random) -> tuple[float, float]:
    """Mean cosine (pictures, captions) between single-object scenes that differ only in `attribute`."""
    pictures, captions = [], []
    for _ in range(PAIRS):
        first = random_object(rng)
        other = rng.choice([v for v in sorted(ATTRIBUTES[attribute]) if v != getattr(first, attribute)])
        a, b = Scene("white", (first,), 7), Scene("white", (replace(first, **{attribute: other}),), 7)
        texts = encoder.encode_texts([caption_en(a), caption_en(b)])                       # (2, D), normalised
        captions.append(float(texts[0] @ texts[1]))
        pictures.append(float(encoder.encode(render_scene(a)).embedding @ encoder.encode(render_scene(b)).embedding))
    return sum(pictures) / PAIRS, sum(captions) / PAIRS


@dataclass(frozen=True)
class SpaceProbe:
    """What one folder's picture-text space keeps of each attribute."""

    folder: Path
    cosines: dict[str, tuple[float, float]]   # attribute -> mean cosine (pictures, captions) when only it differs
    single_shapes: int                        # of SINGLES single objects, read with the right shape
    drawings: tuple[str, int, int] | None     # (decoder folder's name, drawings read with the asked shape, asked)

    def line(self) -> str:
        text = (f"{str(self.folder):28s} "
                + "  ".join(f"{name} {p:.2f} / {t:.2f}" for name, (p, t) in self.cosines.items())
                + f"  single shapes {self.single_shapes}/{SINGLES}")
        if self.drawings is not None:
            name, judged, asked = self.drawings
            text += f"  {name}'s drawings {judged}/{asked}"
        return text


def probe(folder: Path, decoder: Path | None) -> SpaceProbe:
    encoder = ImageEncoder.load(f"local-dir:{folder / 'image_encoder'}", torch.device("cpu"), torch.float32)
    rng = random.Random(0)
    cosines = {name: attribute_cosines(encoder, name, rng) for name in ATTRIBUTES}
    judge = SingleObjectJudge(encoder)
    singles = rng.sample(judge.candidates, SINGLES)
    right = sum(judge.read(render_scene(Scene("white", (o,), rng.randrange(1 << 30)))).shape == o.shape
                for o in singles)
    return SpaceProbe(folder, cosines, right, None if decoder is None else judged_drawings(judge, decoder))


def judged_drawings(judge: SingleObjectJudge, decoder: Path) -> tuple[str, int, int]:
    """(the decoder folder's name, its drawings of every colour and shape read with the asked shape, drawings)."""
    from ..image_decoder import ImageDecoder
    drawer = ImageDecoder.load(str(decoder / "image_decoder"), torch.device("cpu"), torch.float32)
    asked = list(itertools.product(sorted(COLORS), sorted(SHAPES)))
    judged = sum(judge.read(drawer.draw(f"draw a {c} {s}", 12, 3.0, 100 + k)).shape == s
                 for k, (c, s) in enumerate(asked))
    return decoder.name, judged, len(asked)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m modules.training.space_probe", description=__doc__)
    parser.add_argument("folders", type=Path, nargs="+", help="suite folders holding an image_encoder/")
    parser.add_argument("--decoder", type=Path, default=None, help="a suite folder whose image_decoder/ draws")
    args = parser.parse_args(argv)
    print("cosine between pictures / captions differing only in one attribute (lower: the space tells them apart)")
    for folder in args.folders:
        print(probe(folder, args.decoder).line(), flush=True)


if __name__ == "__main__":
    main()
