"""Evaluation of the shipped mini suite on the held-out test split: prints a table, writes assets/mini/metrics.json."""
from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..contracts import DrawSettings, GenerationSettings
from ..language_model import GenerationStats
from ..reasoning import split_reply
from .augment import band_limited
from .corpus import every_sound_content_for, scenes_for, single_object_scenes_for, sounds_for
from .suite_config import SuiteConfig
from ..world.pictures import (COLORS, POSITION_PHRASES_EN, POSITIONS, SHAPES, SIZES, RenderStyle, Scene, SceneObject,
                             caption_en, caption_zh, render_scene)
from ..world.sounds import Sound, all_sound_contents, describe_en, describe_zh, synthesize
from ..world.language import language_of
from ..world.talk import DRAW_TEMPLATES, draw_object_phrase, picture_question, sound_exchange

BARS = {"picture_retrieval_r1": 0.95, "sound_retrieval_r1": 0.90, "caption_exact": 0.90, "picture_qa": 0.90,
        "sound_description_exact": 0.90, "sound_description_every_content": 0.90, "drawing_color_shape": 0.80,
        "answer_language": 0.99, "moe_busiest_over_mean": 2.0}
GREEDY = GenerationSettings(temperature=0.0, max_new_tokens=96, keep_language=False)   # the model's own language
DRAW = DrawSettings()                     # the studio's defaults: what a person gets without touching a slider
DESCRIBE = {"en": "Describe this picture.", "zh": "描述这张图片。"}
DESCRIBE_SOUND = {"en": "Describe this sound.", "zh": "描述这段声音。"}
TALK_ITEMS = 50                           # questions per measure, language and wording in the talk table (at most)
SOUND_TRIES_PER_CONTENT = 4               # 35 contents x 4 variations: each beep count 24 times per language


@dataclass
class Suite:
    """The shipped models, loaded through the same classes the studio uses."""

    image_encoder: object
    audio_encoder: object
    bridge: object
    language_model: object
    image_decoder: object

    @classmethod
    def load(cls, folder: Path) -> "Suite":
        from ..bridge import Bridge
        from ..encoders.audio import AudioEncoder
        from ..encoders.image import ImageEncoder
        from ..image_decoder import ImageDecoder
        from ..language_model import LanguageModel
        cpu, f32 = torch.device("cpu"), torch.float32
        return cls(ImageEncoder.load(f"local-dir:{folder / 'image_encoder'}", cpu, f32),
                   AudioEncoder.load(str(folder / "audio_encoder"), cpu, f32),
                   Bridge.load(str(folder / "bridge"), cpu, f32),
                   LanguageModel.load(str(folder / "language_model"), cpu, f32, experts_implementation="grouped_mm"),
                   ImageDecoder.load(str(folder / "image_decoder"), cpu, f32))

    def answer(self, question: str, kind: str | None = None, encoded=None) -> str:
        prefix = None if kind is None else self.bridge.prefix(kind, encoded.tokens, encoded.embedding)
        content = (f"<|{kind}|>" if kind else "") + question
        text = ""
        for text in self.language_model.stream([{"role": "user", "content": content}], GREEDY, GenerationStats(),
                                               kind, prefix):
            pass
        return split_reply(text, final=True).answer      # judged on the answer, not on the thinking before it


# ---- parsing answers back into labels ---------------------------------------------------------------------

_EN_OBJECT = re.compile(r"a (small|large) (\w+) (\w+) (on the left|on the right|at the top|at the bottom|in the center)")
_ZH_OBJECT = re.compile(r"(左边|右边|上边|下边|中间)有一个(大|小)的(.{2})(圆形|正方形|三角形|星形)")
_EN_POS = {v: k for k, v in POSITION_PHRASES_EN.items()}
_ZH = {**{v: k for k, v in POSITIONS.items()}, **{v: k for k, v in SIZES.items()},
       **{v[1]: k for k, v in COLORS.items()}, **{v: k for k, v in SHAPES.items()}}


def parse_caption(text: str, lang: str) -> set[tuple[str, str, str, str]]:
    """The objects a caption names, as (size, color, shape, position)."""
    if lang == "en":
        return {(s, c, sh, _EN_POS[p]) for s, c, sh, p in _EN_OBJECT.findall(text.lower())}
    return {(_ZH[s], _ZH.get(c, c), _ZH[sh], _ZH[p]) for p, s, c, sh in _ZH_OBJECT.findall(text)}


def scene_labels(scene: Scene) -> set[tuple[str, str, str, str]]:
    return {(o.size, o.color, o.shape, o.position) for o in scene.objects}


def normalise(text: str) -> str:
    return re.sub(r"[\s。.!！]+$", "", text.strip().lower())


# ---- measures ---------------------------------------------------------------------------------------------

def picture_retrieval(suite: Suite, scenes: list[Scene], pictures: list[Image.Image], lang: str) -> float:
    texts = [caption_en(s) if lang == "en" else caption_zh(s) for s in scenes]
    keys = [s.objects_key() for s in scenes]
    text_emb = suite.image_encoder.encode_texts(texts)
    hits = 0
    for key, picture in zip(keys, pictures):
        best = int((text_emb @ suite.image_encoder.encode(picture).embedding).argmax())
        hits += keys[best] == key
    return hits / len(scenes)


def sound_retrieval(suite: Suite, sounds: list[Sound], waves: list[np.ndarray], lang: str) -> float:
    contents = all_sound_contents()
    texts = [expected_description(c, lang) for c in contents]
    text_emb = suite.image_encoder.encode_texts(texts)
    hits = 0
    for sound, wave in zip(sounds, waves):
        best = int((text_emb @ suite.audio_encoder.encode(wave).embedding).argmax())
        hits += contents[best].content_key() == sound.content_key()
    return hits / len(sounds)


def caption_accuracy(suite: Suite, scenes, pictures, lang: str, answers: list) -> float:
    hits = 0
    for scene, picture in zip(scenes, pictures):
        text = suite.answer(DESCRIBE[lang], "image", suite.image_encoder.encode(picture))
        answers.append((lang, text))
        hits += parse_caption(text, lang) == scene_labels(scene)
    return hits / len(scenes)


def picture_qa(suite: Suite, scenes, pictures, lang: str, answers: list, seed: int,
               by_kind: dict[str, list[int]] | None = None) -> float:
    """Share of questions answered exactly right; by_kind, when given, collects [right, asked] per kind."""
    rng = random.Random(f"qa-{lang}-{seed}")
    hits = 0
    for scene, picture in zip(scenes, pictures):
        exchange = picture_question(scene, lang, rng)
        text = suite.answer(exchange.question, "image", suite.image_encoder.encode(picture))
        answers.append((lang, text))
        right = normalise(text) == normalise(exchange.answer)
        hits += right
        if by_kind is not None:
            tally = by_kind.setdefault(exchange.kind, [0, 0])
            tally[0], tally[1] = tally[0] + right, tally[1] + 1
    return hits / len(scenes)


def described_right(suite: Suite, sound: Sound, wave: np.ndarray, lang: str, answers: list) -> bool:
    """Asks for a description of the sound; True when the answer holds its exact world description."""
    text = suite.answer(DESCRIBE_SOUND[lang], "audio", suite.audio_encoder.encode(wave))
    answers.append((lang, text))
    return expected_description(sound, lang).lower() in text.lower()


def expected_description(sound: Sound, lang: str) -> str:
    return describe_en(sound) if lang == "en" else describe_zh(sound)


def sound_descriptions(suite: Suite, sounds, waves, lang: str, answers: list) -> float:
    return sum(described_right(suite, s, w, lang, answers) for s, w in zip(sounds, waves)) / len(sounds)


def worst_sound_contents(suite: Suite, sounds: list[Sound], lang: str, answers: list) -> tuple[float, list[str]]:
    """Description accuracy over a sample holding every content equally often, and the contents it gets wrong
    most (as 'description: wrong/tries')."""
    wrong: dict[str, int] = {}
    for sound in sounds:
        expected = expected_description(sound, lang)
        wrong[expected] = wrong.get(expected, 0) + (not described_right(suite, sound, synthesize(sound), lang, answers))
    tries = len(sounds) // len(wrong)
    worst = sorted(wrong.items(), key=lambda item: -item[1])[:3]
    return 1 - sum(wrong.values()) / len(sounds), [f"{name}: {bad}/{tries}" for name, bad in worst if bad]


def color_present(image: Image.Image, color: str, share: float = 0.004) -> bool:
    """Pixel check: enough pixels whose nearest world colour is the named one, and close to it.

    A small star or triangle covers about 0.95 % of the world's own 64-pixel picture, less its anti-aliased edge,
    so the share asked for is well below that. Nearest-colour, not distance alone: orange and yellow are only 71
    apart, and the anti-aliased edge of an orange shape would otherwise count as yellow."""
    pixels = np.asarray(image.convert("RGB").resize((64, 64)), dtype=np.float32).reshape(-1, 3)   # (4096, 3)
    names = sorted(COLORS)
    palette = np.array([COLORS[name][0] for name in names], dtype=np.float32)                # (colours, 3)
    distances = np.linalg.norm(pixels[:, None, :] - palette[None, :, :], axis=2)              # (4096, colours)
    nearest, k = distances.argmin(axis=1), names.index(color)
    return float(((nearest == k) & (distances[:, k] < 70)).mean()) >= share


class SingleObjectJudge:
    """Reads a picture as the single-object scene whose caption its embedding is nearest (every colour, shape, size
    and place, on white): how the eval judges drawings by the image encoder."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.candidates = [SceneObject(c, sh, si, p) for c in COLORS for sh in SHAPES for si in SIZES for p in POSITIONS]
        self.captions = encoder.encode_texts([caption_en(Scene("white", (o,))) for o in self.candidates])  # (120, D)

    def read(self, image: Image.Image) -> SceneObject:
        return self.candidates[int((self.captions @ self.encoder.encode(image).embedding).argmax())]


def drawings(suite: Suite, scenes: list[Scene], seed: int) -> dict[str, float]:
    """Requested colour and shape present: judged by the image encoder (best single-object caption) and pixels;
    and the side, in pixels, that the decoder draws at (before the studio enlarges a small drawing for display)."""
    judge = SingleObjectJudge(suite.image_encoder)
    rng = random.Random(f"draw-eval-{seed}")
    judged = pixels = both = 0
    for k, scene in enumerate(scenes):
        lang = "en" if k % 2 == 0 else "zh"
        obj = scene.objects[0]
        prompt = rng.choice(DRAW_TEMPLATES[lang]).format(
            x=draw_object_phrase(obj, lang, rng, rng.random() < 0.5, rng.random() < 0.4))
        image = suite.image_decoder.draw(prompt, DRAW.steps, DRAW.guidance, seed + k)
        best = judge.read(image)
        by_encoder = (best.color, best.shape) == (obj.color, obj.shape)
        by_pixels = color_present(image, obj.color)
        judged, pixels, both = judged + by_encoder, pixels + by_pixels, both + (by_encoder and by_pixels)
    n = len(scenes)
    return {"drawing_color_shape": both / n, "drawing_by_encoder": judged / n, "drawing_by_pixels": pixels / n,
            "drawing_side": suite.image_decoder.native_side}


def moe_balance(suite: Suite, scenes: list[Scene], sounds: list[Sound], pictures: list[Image.Image],
                waves: list[np.ndarray], seed: int) -> dict[str, float]:
    """Busiest routed expert's load over the mean load, worst layer, teacher-forced. The bar's figure: held-out
    exchanges (picture questions, sound questions, captions; text alone) as the model reads them, in the chat
    template. Reported beside it, without a bar: the same answers as bare text, which the model never reads
    (no template, no start token), and the picture and sound prefixes of the describe prompts."""
    lm, rng = suite.language_model, random.Random(f"moe-{seed}")
    conversations, bare = [], []
    for scene, sound in zip(scenes, sounds):
        for lang in ("en", "zh"):
            question, heard = picture_question(scene, lang, rng), sound_exchange(sound, lang, rng)
            caption = caption_en(scene) if lang == "en" else caption_zh(scene)
            bare += [question.answer + " " + heard.answer, caption]
            conversations += [conversation_ids(lm, asked, said) for asked, said in (
                (question.question, question.answer), (heard.question, heard.answer), (DESCRIBE[lang], caption))]
    seen = [suite.image_encoder.encode(picture) for picture in pictures]
    heard = [suite.audio_encoder.encode(wave) for wave in waves]
    return {"moe_busiest_over_mean": busiest_over_mean(lm, [(ids, None, None) for ids in conversations]),
            "moe_busiest_bare_answers": busiest_over_mean(
                lm, [(lm.tokenizer.encode(text, add_special_tokens=False), None, None) for text in bare]),
            "moe_busiest_picture_prefixes": busiest_over_mean(lm, describe_prompts(suite, "image", seen)),
            "moe_busiest_sound_prefixes": busiest_over_mean(lm, describe_prompts(suite, "audio", heard))}


def conversation_ids(lm, question: str, answer: str) -> list[int]:
    """A user's question and the assistant's answer through the chat template, as token ids."""
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return lm.tokenizer.encode(lm.tokenizer.apply_chat_template(messages, tokenize=False), add_special_tokens=False)


def describe_prompts(suite: Suite, kind: str, encoded: list) -> list[tuple[list[int], str, torch.Tensor]]:
    """The studio's English describe prompt for each encoded picture or sound: (ids, kind, prefix)."""
    question = DESCRIBE["en"] if kind == "image" else DESCRIBE_SOUND["en"]
    prompts = []
    for item in encoded:
        prefix = suite.bridge.prefix(kind, item.tokens, item.embedding)                        # (P, hidden)
        ids = suite.language_model.prompt_ids([{"role": "user", "content": f"<|{kind}|>{question}"}], kind,
                                              prefix.shape[0])
        prompts.append((ids, kind, prefix))
    return prompts


def busiest_over_mean(lm, inputs: list[tuple[list[int], str | None, torch.Tensor | None]]) -> float:
    """Worst layer's busiest expert load over its mean load, over the inputs' tokens: every token of an input
    without a prefix, only the prefix's positions of one with (ids, prefix kind, prefix (P, hidden))."""
    counted = []
    with torch.inference_mode(), lm.recorder:
        lm.recorder.clear()
        for ids, kind, prefix in inputs:
            lm.model(inputs_embeds=lm.embed(ids, kind, prefix))
            marker = None if kind is None else lm.tokenizer.convert_tokens_to_ids(f"<|{kind}|>")
            counted.append(torch.ones(len(ids), dtype=torch.bool) if kind is None else torch.tensor(ids) == marker)
        load = lm.recorder.load(lm.num_experts, torch.cat(counted)).float()                 # (layers, experts)
    return float((load.max(dim=1).values / load.mean(dim=1)).max())


# ---- robustness variants ----------------------------------------------------------------------------------

PICTURE_VARIANTS = {
    "32px": lambda s: render_scene(s, RenderStyle(size=32)),
    "512px": lambda s: render_scene(s, RenderStyle(size=512)),
    "jpeg q30": lambda s: _jpeg(render_scene(s), 30),
    "shades+positions": lambda s: render_scene(s, RenderStyle(shade_jitter=30, position_jitter=0.06)),
    "no anti-aliasing": lambda s: render_scene(s, RenderStyle(antialias=False)),
}
SOUND_VARIANTS = {
    "8 kHz": lambda w: band_limited(w, 8000),        # recorded at that rate, converted to 16 kHz as the studio does
    "44.1 kHz": lambda w: band_limited(w, 44100),
    "stereo": lambda w: np.stack([w, w * 0.5], axis=1).mean(axis=1).astype(np.float32),
}


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    import io
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def run_evaluation(out: Path | None, limit: int) -> int:
    suite_cfg = SuiteConfig()
    folder = Path(out or suite_cfg.out_dir)
    n = limit or 150
    started = time.time()
    suite = Suite.load(folder)
    seed = 7
    scenes = scenes_for("test", n, seed)
    pictures = [render_scene(s) for s in scenes]
    sounds = sounds_for("test", n, seed)
    waves = [synthesize(s) for s in sounds]
    every_sound = every_sound_content_for("test", SOUND_TRIES_PER_CONTENT, seed)
    answers: list[tuple[str, str]] = []
    metrics: dict[str, float] = {}
    worst_sounds: dict[str, list[str]] = {}
    qa_kinds: dict[str, dict[str, list[int]]] = {"en": {}, "zh": {}}
    for lang in ("en", "zh"):
        metrics[f"picture_retrieval_r1_{lang}"] = picture_retrieval(suite, scenes, pictures, lang)
        metrics[f"sound_retrieval_r1_{lang}"] = sound_retrieval(suite, sounds, waves, lang)
        metrics[f"caption_exact_{lang}"] = caption_accuracy(suite, scenes, pictures, lang, answers)
        metrics[f"picture_qa_{lang}"] = picture_qa(suite, scenes, pictures, lang, answers, seed, qa_kinds[lang])
        metrics[f"sound_description_exact_{lang}"] = sound_descriptions(suite, sounds, waves, lang, answers)
        metrics[f"sound_description_every_content_{lang}"], worst_sounds[lang] = worst_sound_contents(
            suite, every_sound, lang, answers)
    metrics.update(drawings(suite, single_object_scenes_for("test", min(n, 60), seed), seed))
    metrics["answer_language"] = sum(language_of(a) == lang for lang, a in answers) / len(answers)
    metrics.update(moe_balance(suite, scenes[:60], sounds[:60], pictures[:60], waves[:60], seed))
    robustness = evaluate_robustness(suite, scenes[: n // 2], sounds[: n // 2], seed)
    from .evaluate_outside import (OutsideConfig, evaluate_outside, format_outside_table,  # it imports this file
                                   outside_bars_met)
    outside = evaluate_outside(suite, OutsideConfig(items=n, drawings=min(n, 60), seed=seed))
    from .evaluate_talk import format_report, measure_talk, talk_bars_met     # it imports this file
    talk = measure_talk(suite, min(n, TALK_ITEMS))
    report = {"test_items": n, "bars": BARS, "metrics": metrics, "robustness": robustness, "outside": outside,
              "talk": talk,
              "worst_sound_contents": worst_sounds,
              "picture_qa_by_kind": {lang: {kind: f"{right}/{asked}" for kind, (right, asked) in sorted(kinds.items())}
                                     for lang, kinds in qa_kinds.items()},
              "seconds": round(time.time() - started, 1)}
    (folder / "metrics.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(format_table(metrics, robustness))
    print("\n" + format_outside_table(outside))
    print("\nquestions as people type them, trained and held-out wordings\n" + format_report(talk))
    for lang, worst in worst_sounds.items():
        print(f"sounds most often described wrong ({lang}): {'; '.join(worst) or 'none'}")
    for lang, kinds in report["picture_qa_by_kind"].items():
        print(f"picture questions answered right, by kind ({lang}): "
              + "; ".join(f"{kind} {tally}" for kind, tally in kinds.items()))
    return 0 if all_bars_met(metrics) and outside_bars_met(outside) and talk_bars_met(talk) else 1


def evaluate_robustness(suite: Suite, scenes, sounds, seed: int) -> dict[str, dict]:
    """Same measures on changed inputs; each entry gives the value and its drop in points from the unchanged
    inputs of the same items (the first half of the test items: a subset's own clean figure, not the full run's)."""
    def picture_measures(pictures) -> dict[str, float]:
        return {"picture_retrieval_r1_en": picture_retrieval(suite, scenes, pictures, "en"),
                "caption_exact_en": caption_accuracy(suite, scenes, pictures, "en", []),
                "picture_qa_en": picture_qa(suite, scenes, pictures, "en", [], seed)}

    def sound_measures(waves) -> dict[str, float]:
        return {"sound_retrieval_r1_en": sound_retrieval(suite, sounds, waves, "en"),
                "sound_description_exact_en": sound_descriptions(suite, sounds, waves, "en", [])}

    def entries(values: dict[str, float], clean: dict[str, float]) -> dict[str, dict]:
        return {k: {"value": v, "drop_points": round(100 * (clean[k] - v), 1)} for k, v in values.items()}

    clean_pictures = picture_measures([render_scene(s) for s in scenes])
    base_waves = [synthesize(s) for s in sounds]
    clean_sounds = sound_measures(base_waves)
    out: dict[str, dict] = {}
    for name, make in PICTURE_VARIANTS.items():
        out[name] = entries(picture_measures([make(s) for s in scenes]), clean_pictures)
    for name, make in SOUND_VARIANTS.items():
        out[name] = entries(sound_measures([make(w) for w in base_waves]), clean_sounds)
    return out


def all_bars_met(metrics: dict[str, float]) -> bool:
    for key, value in metrics.items():
        base = re.sub(r"_(en|zh)$", "", key)
        if base in BARS and (value > BARS[base] if base == "moe_busiest_over_mean" else value < BARS[base]):
            return False
    return True


def format_table(metrics: dict[str, float], robustness: dict[str, dict]) -> str:
    lines = [f"{'measure':<40}{'value':>8}{'bar':>8}  ok", "-" * 60]
    for key, value in metrics.items():
        base = re.sub(r"_(en|zh)$", "", key)
        bar = BARS.get(base)
        ok = "" if bar is None else ("yes" if (value <= bar if base == "moe_busiest_over_mean" else value >= bar)
                                     else "NO")
        lines.append(f"{key:<40}{value:>8.3f}{'' if bar is None else f'{bar:>8.2f}':>8}  {ok}")
    lines += ["", f"{'robustness (drop in points)':<40}{'value':>8}{'drop':>8}", "-" * 60]
    for variant, values in robustness.items():
        for key, entry in values.items():
            lines.append(f"{variant + ': ' + key:<44}{entry['value']:>8.3f}{entry['drop_points']:>8.1f}")
    return "\n".join(lines)
