"""Trains a prefix bridge's picture projector for a profile's image encoder and language model, from a folder of
pictures with captions; both models stay frozen, only the projector learns (the LM's caption loss).

    python -m modules.training.projector --profile NAME --data FOLDER [--config spaces.yaml] [--out DIR]
                                         [--steps 600] [--batch 8] [--lr 1e-3]

Captions: FOLDER/metadata.jsonl (or captions.jsonl) lines {"file_name": "a.png", "text": "a caption"} (the
Hugging Face imagefolder layout), else a.txt beside a.png. The projector is saved with save_pretrained
(config.json + model.safetensors); use it with `bridge: {kind: prefix, source: DIR}`. Only pictures are trained: the
saved config lists trained_kinds = ["image"], so sounds keep going through the text bridge.

The language model's tokenizer must have an `<|image|>` token for the prefix to sit on (the built-in models have
one); a hub chat model without it keeps the text bridge (captions and tags), which needs no training.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

PICTURES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
QUESTIONS = ["", "Describe this picture.", "What is in this picture?", "Caption this picture."]


def read_captions(folder: Path) -> list[tuple[Path, str]]:
    """(picture, caption) pairs from metadata.jsonl / captions.jsonl, else from a .txt beside each picture."""
    for name in ("metadata.jsonl", "captions.jsonl"):
        index = folder / name
        if index.is_file():
            pairs = []
            for n, line in enumerate(index.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    pairs.append((folder / row["file_name"], str(row.get("text") or row["caption"]).strip()))
                except (ValueError, KeyError) as error:
                    raise ValueError(f"{index} line {n}: expected {{\"file_name\": …, \"text\": …}} "
                                     f"({error})") from None
            missing = [p.name for p, _ in pairs if not p.is_file()]
            if missing:
                raise ValueError(f"{index} names pictures that are not there: {', '.join(missing[:5])}")
            return [(p, c) for p, c in pairs if c]
    pairs = [(p, p.with_suffix(".txt").read_text(encoding="utf-8").strip()) for p in sorted(folder.iterdir())
             if p.suffix.lower() in PICTURES and p.with_suffix(".txt").is_file()]
    return [(p, c) for p, c in pairs if c]


def build_examples(lm, encoder, pairs):
    """Each pair -> (patch tokens (n, width), caption ids + eos): encoded once, the encoder stays frozen."""
    from PIL import Image

    eos = lm._eos_ids()[0]
    examples = []
    for path, caption in pairs:
        with Image.open(path) as picture:
            tokens = encoder.encode(picture.convert("RGB")).tokens
        if tokens is None:
            raise ValueError("the image encoder gives no patch tokens: a prefix bridge cannot read it")
        answer = lm.tokenizer.encode(caption, add_special_tokens=False) + [eos]
        examples.append((tokens.float().cpu(), answer))
    return examples


def train(config, pairs, out: Path, steps: int, batch: int, lr: float, seed: int = 0, log=print) -> dict:
    """Train and save the projector; returns {"first_loss", "last_loss", "seconds"}."""
    import torch

    from ..bridge_model import PrefixBridge, PrefixBridgeConfig
    from ..components import Components
    from .train_language import splice

    components = Components(config)
    lm, encoder = components.get("language_model"), components.get("image_encoder")
    if not hasattr(lm, "model") or not lm.supports_media("image"):
        raise SystemExit("error: the language model has no <|image|> token for a prefix to sit on; keep "
                         "`bridge: {kind: text}` for it (captions and tags need no training)")
    device = lm.device
    torch.manual_seed(seed)
    rng = random.Random(seed)
    examples = build_examples(lm, encoder, pairs)
    width, count = examples[0][0].shape[1], examples[0][0].shape[0]
    grid = math.isqrt(count)
    bridge_config = PrefixBridgeConfig(image_width=width, image_grid=grid, image_pool=2 if grid % 2 == 0 else 1,
                                       lm_hidden=lm.model.config.hidden_size, trained_kinds=["image"])
    bridge = PrefixBridge(bridge_config).to(device)
    lm.model.requires_grad_(False)
    marker = lm.tokenizer.convert_tokens_to_ids("<|image|>")
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    optimizer = torch.optim.AdamW(bridge.parameters(), lr=lr, weight_decay=0.01)
    started, losses = time.perf_counter(), []
    for step in range(steps):
        chosen = [examples[rng.randrange(len(examples))] for _ in range(batch)]
        rows, labels = [], []
        for _tokens, answer in chosen:
            question = rng.choice(QUESTIONS)
            prompt = lm.prompt_ids([{"role": "user", "content": "<|image|>" + question}], "image",
                                   bridge_config.image_tokens)
            rows.append(prompt + answer)
            labels.append([-100] * len(prompt) + answer)
        length = max(len(r) for r in rows)
        input_ids = torch.tensor([r + [pad] * (length - len(r)) for r in rows], device=device)         # (B, T)
        label_ids = torch.tensor([l + [-100] * (length - len(l)) for l in labels], device=device)      # (B, T)
        mask = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows], device=device)
        patches = torch.stack([t for t, _ in chosen]).to(device)                                        # (B, n, W)
        prefix = bridge.project_image(patches).to(lm.model.dtype)                                       # (B, k, H)
        embeds = splice(lm.model.get_input_embeddings()(input_ids), input_ids, marker, prefix)
        for group in optimizer.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = lm.model(inputs_embeds=embeds, attention_mask=mask, labels=label_ids).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(bridge.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % 20 == 0 or step + 1 == steps:
            log(f"step {step + 1}/{steps}  loss {losses[-1]:.3f}")
    out.mkdir(parents=True, exist_ok=True)
    bridge.cpu().save_pretrained(out, safe_serialization=True)
    return {"first_loss": sum(losses[:5]) / min(5, len(losses)), "last_loss": sum(losses[-5:]) / min(5, len(losses)),
            "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.training.projector", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", required=True, help="profile whose image encoder and language model to use")
    parser.add_argument("--data", required=True, type=Path, help="folder of pictures with captions")
    parser.add_argument("--config", help="profiles file (default: spaces.yaml)")
    parser.add_argument("--out", type=Path, help="where to save (default: bridges/PROFILE next to the config)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--device", help="cpu, cuda, … (default: the profile's)")
    args = parser.parse_args(argv)

    from ..config import ConfigError, load_config

    try:
        config = load_config(["--profile", args.profile] + (["--config", args.config] if args.config else []) +
                             (["--device", args.device] if args.device else []))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"error: --data {args.data}: not a folder", file=sys.stderr)
        return 2
    try:
        pairs = read_captions(args.data)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not pairs:
        print(f"error: {args.data}: no pictures with captions (metadata.jsonl, or a .txt beside each picture)",
              file=sys.stderr)
        return 2
    out = args.out or Path(config.config_path).parent / "bridges" / args.profile
    result = train(config, pairs, out, args.steps, args.batch, args.lr)
    print(f"saved the projector to {out} (loss {result['first_loss']:.3f} -> {result['last_loss']:.3f}, "
          f"{result['seconds']:.0f} s). In the profile:  bridge: {{kind: prefix, source: {out}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
