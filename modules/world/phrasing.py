"""A small grammar of wordings: templates chosen from parts (greetings, polite frames, wording templates), then
changed the way people type (spelling, case, punctuation, small typos); a stable share of every part is held out of
training, so that an evaluation can ask in wordings the model has never read."""
from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

HELD_OUT_SHARE = 0.2        # of each list of parts (never its first, canonical entry)


def stable_hash(text: str) -> int:
    """A hash that is the same in every run and on every machine (Python's hash() is salted per process)."""
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:12], 16)


@dataclass(frozen=True)
class Part:
    """One choice of a wording: a list of options whose first entry is the canonical one (always trained).

    name: what the list is, unique (it salts the hash that holds options out); canonical_weight: how often the
    canonical option is chosen where it may be (else one of the others, alike)."""

    name: str
    options: tuple[str, ...]
    canonical_weight: float = 0.0
    held: frozenset[str] = field(init=False)

    def __post_init__(self):
        if not self.options:
            raise ValueError(f"part {self.name!r} has no options")
        object.__setattr__(self, "held", held_out_options(self.name, self.options))

    @property
    def trained(self) -> tuple[str, ...]:
        return tuple(o for o in self.options if o not in self.held)

    def pick(self, rng: random.Random, pool: tuple[str, ...]) -> str:
        canonical = self.options[0]
        others = [o for o in pool if o != canonical]
        if canonical in pool and (not others or rng.random() < self.canonical_weight):
            return canonical
        return rng.choice(others)


def held_out_options(name: str, options: tuple[str, ...]) -> frozenset[str]:
    """About one in five of the options after the first: those with the smallest stable hash (of name and option).
    A list of fewer than three options holds none out."""
    candidates = sorted(set(options[1:]) - {options[0]}, key=lambda o: stable_hash(f"{name}|{o}"))
    count = round(len(options) * HELD_OUT_SHARE) if len(options) >= 3 else 0
    return frozenset(candidates[:count])


def choose(parts: list[Part], rng: random.Random, held_out: bool) -> list[str]:
    """One option of each part. held_out=False: only trained options. held_out=True: one part (chosen at random
    among those that hold any out) gives a held-out option, the others any option."""
    if not held_out:
        return [p.pick(rng, p.trained) for p in parts]
    open_parts = [i for i, p in enumerate(parts) if p.held]
    if not open_parts:
        raise ValueError(f"none of the parts {[p.name for p in parts]} holds an option out")
    forced = rng.choice(open_parts)
    return [rng.choice(sorted(p.held)) if i == forced else p.pick(rng, p.options) for i, p in enumerate(parts)]


# ---- frames: greetings and politeness around a question ------------------------------------------------------

GREETINGS = {
    "en": Part("en/greeting", ("{q}", "hi, {q}", "hello, {q}", "hey, {q}", "hi there, {q}", "hello! {q}",
                               "good morning, {q}", "hey there! {q}", "good evening, {q}", "hiya, {q}"), 0.75),
    "zh": Part("zh/greeting", ("{q}", "你好，{q}", "您好，{q}", "嗨，{q}", "你好！{q}", "哈喽，{q}", "早上好，{q}",
                               "晚上好，{q}", "您好！{q}", "嗨！{q}"), 0.75),
}
POLITENESS = {
    "en": Part("en/politeness", ("{q}", "please, {q}", "could you tell me: {q}", "can you tell me, {q}",
                                 "I'd like to know: {q}", "quick question: {q}", "{q} please", "{q} thanks",
                                 "excuse me, {q}", "tell me, {q}", "sorry, {q}", "I wonder: {q}", "{q} thank you!",
                                 "ok so {q}", "one question: {q}", "may I ask: {q}"), 0.6),
    "zh": Part("zh/politeness", ("{q}", "请问{q}", "请问，{q}", "麻烦问一下，{q}", "我想问一下，{q}", "能告诉我{q}",
                                 "麻烦你告诉我，{q}", "{q}谢谢", "{q}谢谢！", "想请教一下，{q}", "问一下，{q}",
                                 "劳驾，{q}", "打扰一下，{q}", "我想知道{q}"), 0.6),
}


FRAMES = {"greeting": GREETINGS, "politeness": POLITENESS}


def put_in_frame(text: str, frame: str, lang: str) -> str:
    """"What colour ...?" in "hi, {q}" -> "hi, what colour ...?"."""
    if lang == "en" and not frame.startswith("{q}"):
        return frame.format(q=lowered_start(text))
    return frame.format(q=text)


def lowered_start(text: str) -> str:
    """"What colour ..." -> "what colour ..."; "I would ..." stays."""
    if text[:2] in ("I ", "I'") or not text:
        return text
    return text[0].lower() + text[1:]


# ---- the way people type --------------------------------------------------------------------------------------

SPELLINGS = (("colour", "color"), ("centre", "center"), ("grey", "gray"), ("favourite", "favorite"),
             ("summarise", "summarize"))


@dataclass(frozen=True)
class Typing:
    """How often each change is made to a wording."""

    spelling_swap: float = 0.5      # each British / American word written the other way
    typo: float = 0.12              # one letter swapped, dropped or doubled in one unprotected word
    lower_case: float = 0.3         # the whole text in lower case
    upper_first_word: float = 0.04  # the first word in capitals ("HI, ...")
    drop_end: float = 0.25          # the final punctuation left out
    double_end: float = 0.05        # the final "?" written twice
    zh_half_width: float = 0.2      # Chinese punctuation written half-width
    zh_drop_ma: float = 0.15        # a final 吗 left out
    zh_add_ne: float = 0.1          # a 呢 before the final question mark


TYPING = Typing()


def typed(text: str, lang: str, rng: random.Random, protected: frozenset[str], typing: Typing = TYPING) -> str:
    """The text as a person might type it. English: spelling, one typo in a word not in `protected` (lower-case
    words that carry the answer), case, final punctuation. Chinese: 吗 / 呢, half-width punctuation, final
    punctuation. Protected words are never changed, except that lower case keeps them as they are."""
    if lang == "en":
        text = swapped_spellings(text, rng, typing.spelling_swap)
        if rng.random() < typing.typo:
            text = with_typo(text, rng, protected)
        text = changed_case(text, rng, typing)
    else:
        text = chinese_particles(text, rng, typing)
        if rng.random() < typing.zh_half_width:
            text = text.translate(str.maketrans("？，。！：", "?,.!:"))
    return changed_end(text, rng, typing)


def swapped_spellings(text: str, rng: random.Random, share: float) -> str:
    for british, american in SPELLINGS:
        for old, new in ((british, american), (american, british)):
            if re.search(rf"\b{old}\b", text, re.IGNORECASE) and rng.random() < share:
                text = re.sub(rf"\b{old}\b", lambda m: same_case(m.group(0), new), text, flags=re.IGNORECASE)
                break
    return text


def same_case(model: str, word: str) -> str:
    return word.capitalize() if model[:1].isupper() else word


def with_typo(text: str, rng: random.Random, protected: frozenset[str]) -> str:
    """One letter swapped with its neighbour, dropped or doubled, in a word of four letters or more that is not
    protected (the test is on the word in lower case)."""
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", text) if m.group(0).lower() not in protected]
    if not words:
        return text
    match = rng.choice(words)
    word, at = match.group(0), rng.randrange(1, len(match.group(0)) - 1)
    how = rng.choice(["swap", "drop", "double"])
    if how == "swap":
        changed = word[:at] + word[at + 1] + word[at] + word[at + 2:]
    elif how == "drop":
        changed = word[:at] + word[at + 1:]
    else:
        changed = word[:at] + word[at] + word[at:]
    return text[:match.start()] + changed + text[match.end():]


def changed_case(text: str, rng: random.Random, typing: Typing) -> str:
    pick = rng.random()
    if pick < typing.lower_case:
        return text.lower()
    if pick < typing.lower_case + typing.upper_first_word:
        first = re.match(r"[A-Za-z']+", text)
        return text if first is None else first.group(0).upper() + text[first.end():]
    return text[:1].upper() + text[1:]


def changed_end(text: str, rng: random.Random, typing: Typing) -> str:
    stripped = text.rstrip("?？.。!！")
    ending = text[len(stripped):]
    if not ending:
        return text
    pick = rng.random()
    if pick < typing.drop_end:
        return stripped
    if pick < typing.drop_end + typing.double_end and ending in ("?", "？"):
        return stripped + ending * 2
    return text


def chinese_particles(text: str, rng: random.Random, typing: Typing) -> str:
    """A final 吗 left out ("有星形吗？" -> "有星形？"), or a 呢 added to a question without one."""
    if re.search(r"吗[？?]$", text) and rng.random() < typing.zh_drop_ma:
        return re.sub(r"吗([？?])$", r"\1", text)
    if re.search(r"什么[^吗呢]*[？?]$|几[^吗呢]*[？?]$|哪[^吗呢]*[？?]$", text) and rng.random() < typing.zh_add_ne:
        return re.sub(r"([？?])$", r"呢\1", text)
    return text


@dataclass(frozen=True)
class Wording:
    """A wording drawn from the grammar: the text, and the options it was made of (greeting, politeness,
    template and any slot options), to check what was held out."""

    text: str
    parts: tuple[str, ...]


def worded(template: Part, slots: dict[str, Part | str], lang: str, rng: random.Random, held_out: bool,
           protected: frozenset[str], frames: tuple[str, ...] = ("greeting", "politeness")) -> Wording:
    """A question of one kind: its template (with slot values, some themselves chosen from parts), inside its
    frames (FRAMES, outermost first), typed the way people type."""
    slot_parts = {k: v for k, v in slots.items() if isinstance(v, Part)}
    frame_parts = [FRAMES[name][lang] for name in frames]
    chosen = choose([template, *slot_parts.values(), *frame_parts], rng, held_out)
    values = {k: v for k, v in slots.items() if isinstance(v, str)} | dict(zip(slot_parts, chosen[1:]))
    text = chosen[0].format(**values)
    for frame in reversed(chosen[len(chosen) - len(frame_parts):]):
        text = put_in_frame(text, frame, lang)
    return Wording(typed(text, lang, rng, protected), tuple(chosen))
