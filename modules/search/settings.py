"""The `search:` mapping of a profile and the --search-* flags, read into a typed, frozen SearchConfig; errors name
the key, the bad value and what is valid (modules.config calls read_search_config)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parents[2]
STUDIO_DOCUMENTS = ("README.md", "docs")      # the offline default: the studio's own documentation


@dataclass(frozen=True)
class SearchConfig:
    """Where the Search switch looks, and the limits on what it fetches."""

    url: str = ""                     # a SearXNG instance (its JSON API at URL/search); "" = the local documents
    documents: tuple[str, ...] = ()   # files and folders of the local index (absolute); () = the studio's own docs
    allow_private: bool = False       # fetch from private, loopback and link-local addresses (a local SearXNG)
    results: int = 4                  # sources given to the model at most
    timeout_s: float = 8.0            # each fetch (SearXNG, each page) ends after this many seconds
    max_page_bytes: int = 2 * 1024**2  # a fetched page or answer larger than this is cut here

    def document_paths(self) -> tuple[str, ...]:
        return self.documents or tuple(str(REPO_ROOT / name) for name in STUDIO_DOCUMENTS)


SEARCH_KEYS = ("url", "documents", "allow_private", "results", "timeout_s", "max_page_size")   # max_page_size: 2mb


def _url(where: str, value: Any, error: type[Exception]) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+\S*$", value.strip()):
        raise error(f"{where}: {value!r} is not valid; expected a SearXNG address such as http://localhost:8888")
    return value.strip().rstrip("/")


def _documents(where: str, value: Any, base: Path, error: type[Exception]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() for v in items):
        raise error(f"{where}: {value!r} is not valid; expected a folder or file, or a list of them")
    paths = []
    for item in items:
        path = Path(item.strip()).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.exists():
            raise error(f"{where}: {item!r} does not exist (read against {base.name or base})")
        paths.append(str(path.resolve()))
    return tuple(paths)


def read_search_config(where: str, spec: Any, base: Path, flags: dict[str, tuple[str, Any] | None],
                       error: type[Exception], parse_int: Callable, parse_size: Callable,
                       parse_flag: Callable) -> SearchConfig:
    """spec: the profile's `search:` mapping (or None); flags: key -> (where, value) from a flag or the environment,
    which win over the profile. Helpers come from modules.config, so every setting reads alike."""
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise error(f"{where}: expected a mapping; valid keys: {', '.join(SEARCH_KEYS)}")
    values: dict[str, Any] = {}
    for key, value in spec.items():
        at = f"{where}.{key}"
        if key not in SEARCH_KEYS:
            raise error(f"{where}: unknown key {key!r}; valid keys: {', '.join(SEARCH_KEYS)}")
        if key == "url":
            values[key] = _url(at, value, error) if value else ""
        elif key == "documents":
            values[key] = _documents(at, value, base, error)
        elif key == "allow_private":
            if not isinstance(value, bool):
                raise error(f"{at}: {value!r} is not valid; valid choices: true, false")
            values[key] = value
        elif key == "results":
            values[key] = parse_int(at, value, 1, 10)
        elif key == "timeout_s":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
                raise error(f"{at}: {value!r} is not valid; expected a number of seconds, above 0 and at most 60")
            values[key] = float(value)
        else:
            values["max_page_bytes"] = parse_size(value, at)
    if flags.get("url"):
        values["url"] = _url(flags["url"][0], flags["url"][1], error)
    if flags.get("documents"):
        values["documents"] = _documents(flags["documents"][0], flags["documents"][1], Path.cwd(), error)
    if flags.get("allow_private"):
        values["allow_private"] = parse_flag(*flags["allow_private"])
    return SearchConfig(**values)
