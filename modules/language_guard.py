"""Keeps an answer in the language of its question while decoding: for an English question no token that holds a
CJK character; for a Chinese question no Latin-letter word except the names such answers genuinely contain."""
from __future__ import annotations

import re
from functools import lru_cache

import torch

from .world.language import language_of

# A byte that starts a character in U+3000..U+9FFF (CJK punctuation, kana, ideographs) or U+F000..U+FFFF
# (full-width forms): UTF-8 lead bytes 0xE3..0xE9 and 0xEF.
EAST_ASIAN_LEADS = frozenset(range(0xE3, 0xEA)) | {0xEF}
WORD = re.compile(rb"[A-Za-z0-9-]+")      # a Latin run: letters, digits and hyphens ("hub-cpu", "--profile", "int8")
LETTER = re.compile(rb"[A-Za-z]")


@lru_cache(maxsize=1)
def byte_of_symbol() -> dict[str, int]:
    """The byte-level BPE alphabet, read backwards: each printable stand-in character -> the byte it stands for
    (printable bytes stand for themselves; the others are shifted past U+0100 in order)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, shifted = {chr(b): b for b in printable}, 0
    for b in range(256):
        if b not in printable:
            table[chr(0x100 + shifted)] = b
            shifted += 1
    return table


def token_bytes(tokenizer) -> list[bytes]:
    """Each token id's bytes: read from a byte-level token, a "<0xNN>" byte token, or else the token's text."""
    table, out = byte_of_symbol(), []
    for token in tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))):
        token = token or ""
        if all(ch in table for ch in token):
            out.append(bytes(table[ch] for ch in token))
        elif re.fullmatch(r"<0x[0-9A-Fa-f]{2}>", token):
            out.append(bytes([int(token[3:5], 16)]))
        else:
            out.append(token.replace("\u2581", " ").encode("utf-8"))
    return out


class LanguageGuard:
    """Which tokens may come next so that an answer stays in one language. names: the Latin words a Chinese
    answer may hold (matched whole: "OmniMoE", "hub-cpu"); digits and hyphens alone are always fine."""

    def __init__(self, pieces: list[bytes], special_ids: set[int], names: set[str]):
        self.pieces, self.names = pieces, {n.encode() for n in names}
        size = len(pieces)
        self.english = torch.tensor([any(b in EAST_ASIAN_LEADS for b in p) for p in pieces], dtype=torch.bool)
        self.chinese_fresh = torch.tensor([not self.runs_fit(b"", p) for p in pieces], dtype=torch.bool)
        self.joining = [i for i, p in enumerate(pieces) if WORD.match(p)]     # tokens that go on a Latin run
        for mask in (self.english, self.chinese_fresh):
            mask[[i for i in special_ids if i < size]] = False

    def banned(self, language: str, answer: bytes) -> torch.Tensor:
        """(vocab,) bool: the tokens that may not follow `answer` (its bytes so far) in an answer in `language`."""
        if language == "en":
            return self.english
        trailing = re.search(rb"[A-Za-z0-9-]+$", answer)
        if trailing is None:
            return self.chinese_fresh
        run = trailing.group(0)
        complete = run in self.names or not LETTER.search(run)          # may end here ("hub", "16", "--")
        mask = self.chinese_fresh.clone() if complete else torch.ones_like(self.chinese_fresh)
        for i in self.joining:
            mask[i] = not self.runs_fit(run, self.pieces[i])
        if bool(mask.all()):                  # never leave nothing to choose
            return self.chinese_fresh
        return mask

    def runs_fit(self, trailing: bytes, piece: bytes) -> bool:
        """Whether every Latin run that the piece writes, joined to the answer's trailing run where it goes on
        from it, is a name (or, at the piece's end, the start of one), or has no letter."""
        text = trailing + piece
        for match in WORD.finditer(text):
            if match.end() <= len(trailing) or not LETTER.search(match.group(0)):
                continue
            word = match.group(0)
            if match.end() == len(text):
                if not any(name.startswith(word) for name in self.names):
                    return False
            elif word not in self.names:
                return False
        return True


def latin_names(texts: list[str]) -> set[str]:
    """The Latin runs with a letter in the texts: "我是 OmniMoE Studio 的" -> {"OmniMoE", "Studio"}."""
    return {m.group(0).decode() for t in texts for m in WORD.finditer(t.encode()) if LETTER.search(m.group(0))}


def asked_text(messages: list[dict]) -> str | None:
    """The last user message's text (its text parts joined, when its content is a list of parts); None without one."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            return " ".join(str(part.get("text") or "") for part in content if part.get("type") == "text")
        return str(content or "")
    return None


class LanguageKeeper:
    """For one tokenizer: the language of a conversation's question and the guard that keeps its answer there. A
    Chinese answer may hold the Latin names `allowed` (the world's own) and those the question uses. Each token's
    bytes are read once; the guard is rebuilt only when the question's names change."""

    def __init__(self, tokenizer, allowed: set[str]):
        self.tokenizer, self.allowed = tokenizer, frozenset(allowed)
        self._pieces: list[bytes] | None = None
        self._guards: dict[frozenset[str], LanguageGuard] = {}

    @property
    def pieces(self) -> list[bytes]:
        if self._pieces is None:
            self._pieces = token_bytes(self.tokenizer)
        return self._pieces

    def for_messages(self, messages: list[dict], extra: frozenset[str] = frozenset()
                     ) -> tuple[str, LanguageGuard] | None:
        """(the question's language, its guard); extra: more Latin names allowed for this answer (the "think" of
        a thought's </think>)."""
        asked = asked_text(messages)
        if asked is None:
            return None
        names = self.allowed | latin_names([asked]) | extra
        guard = self._guards.get(names)          # read once: a request in another thread may replace the cache
        if guard is None:
            guard = LanguageGuard(self.pieces, set(self.tokenizer.all_special_ids), set(names))
            self._guards = {names: guard}        # the latest question's only
        return language_of(asked), guard


def fitted(mask: torch.Tensor, size: int) -> torch.Tensor:
    """A (tokenizer vocab,) mask cut or padded with False to the model's (size,) logits."""
    if mask.shape[0] >= size:
        return mask[:size]
    return torch.cat([mask, torch.zeros(size - mask.shape[0], dtype=torch.bool)])


class GuardedLogits:
    """A logits processor for transformers' generate (batch of one): bans the tokens that would take the answer
    out of `language`. prompt_length: the prompt's tokens in generate's input_ids, before the answer."""

    def __init__(self, language: str, guard: LanguageGuard, pieces: list[bytes], prompt_length: int):
        self.language, self.guard, self.pieces, self.prompt_length = language, guard, pieces, prompt_length
        self.written, self.seen = b"", 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """input_ids (1, prompt + answer so far), scores (1, vocab) -> scores with banned tokens at -inf."""
        answer = input_ids[0, self.prompt_length:].tolist()
        for token in answer[self.seen:]:
            self.written += self.pieces[token] if token < len(self.pieces) else b""
        self.seen = len(answer)
        banned = fitted(self.guard.banned(self.language, self.written), scores.shape[-1]).to(scores.device)
        return scores.masked_fill(banned, float("-inf"))
