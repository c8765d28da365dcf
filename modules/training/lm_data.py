"""Training examples for the language model: chat turns with picture or sound prefixes, tokenised with loss masks."""
from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace

import torch

from ..world.pictures import Scene
from ..world.sounds import Sound
from ..reasoning import THINK_END, THINK_START
from ..contracts import GenerationSettings
from ..search.prompt import fits_context
from ..world.studio import StudioFacts, studio_exchange
from ..world.studio_search import StudioSearchTurns
from ..world.talk import (Exchange, QuestionMix, caption_exchange, conversation_exchange, draw_prompt,
                         missing_media_exchange, out_of_world_exchange, picture_notes, picture_question, sound_exchange)
from .corpus import shuffled_objects
from .model_facts import stage_facts

IGNORE = -100
# Share of each task in a batch.
# studio_search (a studio question with the studio's search sources, the answer citing one) takes 0.03 of the
# conversation and studio shares; it is drawn only when sample_example is given the search turns (they are fitted
# with the model's tokenizer), else its share goes to the other tasks.
# relative weights of the tasks (rng.choices normalises them: they sum to 1.03 since studio_search came in at 0.03)
# no_media: a question about a picture or a sound with none attached (talk.missing_media_exchange).
MIXTURE = {"caption": 0.24, "no_media": 0.03, "picture_question": 0.35, "sound": 0.12, "conversation": 0.08,
           "out_of_world": 0.06, "draw": 0.07, "multi_turn": 0.03, "studio": 0.02, "studio_search": 0.03}
# With think_first: questions answered from given notes, without a picture, take a share of the picture examples
# (captions are learnt well by then): the notes are the only place the answer can come from.
THINKING_MIXTURE = {**MIXTURE, "caption": 0.2, "notes_question": 0.1}


@dataclass
class Example:
    media: str | None                      # None | "image" | "audio"
    turns: list[tuple[str, str]]           # (user text, assistant answer); the media belongs to the last turn
    scene: Scene | None = None
    sound_index: int | None = None
    picture_index: int | None = None
    thinking_given: bool = False           # the last answer's <think> part is context, not a target (no loss)
    mirrored: bool = False                 # the picture is shown flipped left-right (its scene's sides swapped)
    request: Exchange | None = None        # the picture's caption request or question, once drawn

    def shown_scene(self) -> Scene:
        """The picture's scene as it is shown: its sides swapped where the picture is mirrored."""
        return self.scene.mirrored() if self.mirrored else self.scene


@dataclass
class Batch:
    input_ids: torch.Tensor                # (B, T)
    labels: torch.Tensor                   # (B, T), IGNORE where no loss
    attention_mask: torch.Tensor           # (B, T)
    media: list[str | None] = field(default_factory=list)

    def to(self, device) -> "Batch":
        return replace(self, input_ids=self.input_ids.to(device), labels=self.labels.to(device),
                       attention_mask=self.attention_mask.to(device))


def _text_turn(rng: random.Random, lang: str) -> tuple[str, str]:
    pick = rng.random()
    if pick < 0.5:
        e = conversation_exchange(rng, lang)
    elif pick < 0.6:
        e = studio_exchange(stage_facts(), rng, lang)
    elif pick < 0.8:
        e = out_of_world_exchange(rng, lang)
    else:
        from ..world.pictures import random_scene
        return draw_prompt(random_scene(rng, 1), lang, rng)
    return e.question, e.answer


def _language_and_history(rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
    """The language of an example's last turn, and (15 % of the time) one text turn before it in either language."""
    lang = rng.choice(["en", "zh"])
    return lang, ([_text_turn(rng, rng.choice(["en", "zh"]))] if rng.random() < 0.15 else [])


@functools.lru_cache(maxsize=2)             # one per tokenizer: the phases share its searched and fitted turns
def search_turns(tokenizer, context: int) -> StudioSearchTurns:
    """Studio questions with the studio's search sources, fitted as the studio fits them for a model of `context`
    tokens answering with the studio's default max_new_tokens: the user's turn in the chat template, thinking off
    (what LanguageModel.count_tokens counts for the built-in model), at most context - 96 - 48 = 368 of 512."""
    def count(turn: str) -> int:
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": turn}], tokenize=False,
                                               add_generation_prompt=True)
        return len(tokenizer.encode(prompt, add_special_tokens=False))

    return StudioSearchTurns(fits_context(count, context, GenerationSettings().max_new_tokens))


def sample_example(rng: random.Random, scenes: list[Scene], sounds: list[Sound], think_first: bool = False,
                   facts: StudioFacts | None = None, searched: StudioSearchTurns | None = None) -> Example:
    """One training example of a task drawn from the mixture; facts: the trained model's own (studio questions),
    by default those of the recipe's language stage; searched: search_turns(…), without which no studio_search
    example is drawn."""
    mixture = THINKING_MIXTURE if think_first else MIXTURE
    if searched is None:
        mixture = {task: share for task, share in mixture.items() if task != "studio_search"}
    task = rng.choices(list(mixture), weights=list(mixture.values()))[0]
    lang, history = _language_and_history(rng)
    if task == "notes_question":
        return notes_question(scenes[rng.randrange(len(scenes))], lang, rng, history)
    if task in ("caption", "picture_question"):
        i = rng.randrange(len(scenes))
        return Example("image", history, scene=scenes[i], picture_index=i)     # turn text filled after mirroring
    if task == "sound":
        return sound_example(rng, sounds, lang, history)
    if task == "multi_turn":
        return Example(None, [_text_turn(rng, lang) for _ in range(rng.randint(2, 3))])
    if task == "draw":
        from ..world.pictures import random_scene
        return Example(None, history + [draw_prompt(random_scene(rng, 1), lang, rng)])
    if task == "studio":
        e = studio_exchange(facts or stage_facts(), rng, lang)
    elif task == "studio_search":
        e = searched.exchange(facts or stage_facts(), rng, lang)
    else:
        e = {"conversation": conversation_exchange, "out_of_world": out_of_world_exchange,
             "no_media": missing_media_exchange}[task](rng, lang)
    return Example(None, history + [(e.question, e.answer)])


def sound_example(rng: random.Random, sounds: list[Sound], lang: str, history: list[tuple[str, str]]) -> Example:
    """A question about one of the sounds, in `lang`, after the given earlier turns."""
    i = rng.randrange(len(sounds))
    e = sound_exchange(sounds[i], lang, rng)
    return Example("audio", history + [(e.question, e.answer)], sound_index=i)


def sample_sound_example(rng: random.Random, sounds: list[Sound]) -> Example:
    """A sound turn alone, with sample_example's odds of language and of an earlier text turn."""
    return sound_example(rng, sounds, *_language_and_history(rng))


PLACE_ORDER = ("top", "left", "center", "right", "bottom")     # reading order: top row, middle row, bottom row


def objects_by_place(scene: Scene) -> Scene:
    """The scene with its objects listed in reading order of their places."""
    return Scene(scene.background, tuple(sorted(scene.objects, key=lambda o: PLACE_ORDER.index(o.position))),
                 scene.shade_seed)


def picture_turn(scene: Scene, rng: random.Random, by_place: bool = False, think_first: bool = False,
                 caption_share: float = 0.45, mix: QuestionMix | None = None) -> Exchange:
    """A caption request or a question about the (possibly mirrored) scene; by_place: captions list the objects
    in reading order, else in a random order; think_first: an answer to a question starts with the picture's
    notes between <think> and </think>; mix: how the questions are drawn (picture_question)."""
    lang = rng.choice(["en", "zh"])
    shown = objects_by_place(scene) if by_place else shuffled_objects(scene, rng)
    if rng.random() < 0.1 and lang == "en":
        return replace(caption_exchange(shown, lang, rng), question="")  # a picture with no question is described
    if rng.random() < caption_share:
        return caption_exchange(shown, lang, rng)
    e = picture_question(shown, lang, rng, mix)
    return replace(e, answer=thought_through(shown, lang, e.answer)) if think_first else e


def notes_question(scene: Scene, lang: str, rng: random.Random, history: list[tuple[str, str]]) -> Example:
    """A question about a picture that is not shown, with its notes given as the thinking: the answer must be read
    from the notes (a model given the picture as well may learn to skip them)."""
    shown = objects_by_place(scene)
    e = picture_question(shown, lang, rng)
    return Example(None, history + [(e.question, thought_through(shown, lang, e.answer))], thinking_given=True)


def thought_through(scene: Scene, lang: str, answer: str) -> str:
    """The answer after the notes the model writes first: "<think>notes</think>answer"."""
    return f"{THINK_START}{picture_notes(scene, lang)}{THINK_END}{answer}"


def split_given_thinking(written: str) -> tuple[str, str]:
    """"<think>notes</think>answer" -> ("<think>notes</think>", "answer")."""
    end = written.index(THINK_END) + len(THINK_END)
    return written[:end], written[end:]


class ChatTokens:
    """Turns into token ids the way the chat template lays them out; media markers repeated per prefix token."""

    def __init__(self, tokenizer, image_tokens: int, audio_tokens: int):
        self.tokenizer = tokenizer
        ids = tokenizer.convert_tokens_to_ids
        self.user, self.assistant = ids("<|user|>"), ids("<|assistant|>")
        self.markers = {"image": [ids("<|image|>")] * image_tokens, "audio": [ids("<|audio|>")] * audio_tokens}

    def encode(self, example: Example) -> tuple[list[int], list[int]]:
        ids, labels = [self.tokenizer.bos_token_id], [IGNORE]
        for k, (question, answer) in enumerate(example.turns):
            last = k == len(example.turns) - 1
            marker = self.markers[example.media] if (last and example.media) else []
            prompt = [self.user] + marker + self.tokenizer.encode(question, add_special_tokens=False) + [self.assistant]
            given, answer = split_given_thinking(answer) if (last and example.thinking_given) else ("", answer)
            context = prompt + self.tokenizer.encode(given, add_special_tokens=False)
            reply = self.tokenizer.encode(answer, add_special_tokens=False) + [self.tokenizer.eos_token_id]
            ids += context + reply
            labels += [IGNORE] * len(context) + reply
        return ids, labels

    def collate(self, examples: list[Example]) -> Batch:
        encoded = [self.encode(e) for e in examples]
        longest = max(len(ids) for ids, _ in encoded)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(examples), longest), pad, dtype=torch.long)
        labels = torch.full((len(examples), longest), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), longest), dtype=torch.long)
        for row, (ids, labs) in enumerate(encoded):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, : len(labs)] = torch.tensor(labs)
            mask[row, : len(ids)] = 1
        return Batch(input_ids, labels, mask, [e.media for e in examples])
