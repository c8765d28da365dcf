"""Reads and validates spaces.yaml + command-line flags + environment variables into typed, frozen dataclasses; errors name the bad key/value and the valid choices.

Every setting is taken from the first of: command-line flag > environment variable > profile value in
spaces.yaml > default. An environment variable set to the empty string counts as unset. Nothing here loads a
model or imports torch or gradio: `python app.py --help` stays fast.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import yaml

if TYPE_CHECKING:
    from .search.settings import SearchConfig

ROLES = ("language_model", "image_encoder", "audio_encoder", "bridge", "image_decoder")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
QUANTIZE = ("none", "int8", "int4", "fp8")             # weight quantization of the language model
LM_BACKENDS = ("transformers", "openai")               # in-process weights, or an OpenAI-compatible server
LM_KINDS = ("transformers", "openai", "native")        # … or one checkpoint reading pictures and sounds itself
BRIDGE_KINDS = ("prefix", "text")                      # trained projector, or captions and tags as words
MODALITIES = ("text", "image", "audio")              # what an openai-backend model takes as content parts
PROFILE_SETTINGS = ("device", "dtype", "limits", "search")   # profile keys that are not roles
TOP_LEVEL_KEYS = ("default_profile", "profiles")
BATCH_CONCURRENCY = 16                                 # --concurrency default with --batch-decode: answers that share steps

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "spaces.yaml"             # spaces.yaml next to app.py

_SIZE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}  # as gradio counts them
_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "org/name"
_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")


class ConfigError(ValueError):
    """A setting is wrong: the message names where it came from, the bad value and the valid choices."""


def _choices(values) -> str:
    return ", ".join(str(v) for v in values)


@dataclass(frozen=True)
class RoleSource:
    """Where one role's checkpoint comes from, and how to read it."""

    source: str                      # hub id ("org/name"), "hf-hub:org/name", "local-dir:/abs/path" or an absolute path
    kind: str | None = None          # e.g. bridge kind "prefix" | "text"; language model backend "transformers" | "openai"
    trust_remote_code: bool = False  # only when a profile says so explicitly
    options: dict = field(default_factory=dict)   # any other keys of the role's mapping (base_url, model, revision, …)


def parse_size(text: str | int, where: str = "size") -> int:
    """'20mb' → 20 MiB in bytes; units b, kb, mb, gb, tb (powers of 1024, as gradio counts); no unit = bytes."""
    match = _SIZE.match(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in ("",) + tuple(_SIZE_UNITS) or int(match.group(1)) <= 0:
        raise ConfigError(f"{where}: {str(text)!r} is not a size; write a positive whole number with an optional "
                          f"unit, one of {_choices(_SIZE_UNITS)} (e.g. 20mb)")
    return int(match.group(1)) * _SIZE_UNITS[unit or "b"]


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; the UI, the API and media decoding all enforce these."""

    max_file_size: str = "20mb"      # gradio's max_file_size, also enforced by media decoding
    max_text_chars: int = 8000       # longest message accepted
    max_image_pixels: int = 40_000_000  # width × height of an uploaded picture (decompression-bomb guard)
    max_audio_seconds: float = 30.0  # longest sound accepted
    max_new_tokens: int = 256        # upper bound of GenerationSettings.max_new_tokens
    max_draw_steps: int = 50         # upper bound of DrawSettings.steps
    max_draw_count: int = 4          # upper bound of DrawSettings.count
    request_timeout: float = 120.0   # seconds one request may compute; past it, it stops at its next step
    max_request_size: str = "20mb"   # largest /v1 request body, refused with 413 before it is read whole

    def max_file_bytes(self) -> int:
        return parse_size(self.max_file_size, "max_file_size")

    def max_request_bytes(self) -> int:
        return parse_size(self.max_request_size, "max_request_size")


LIMIT_KEYS = tuple(f.name for f in fields(Limits))


@dataclass(frozen=True)
class ServerConfig:
    """How the web server listens and who may use it."""

    host: str = "127.0.0.1"          # 0.0.0.0 to listen on every interface (the default on Spaces)
    port: int = 7860
    share: bool = False              # gradio share link; always False on Spaces
    auth: tuple[tuple[str, str], ...] = ()   # (user, password) pairs; empty = no login
    queue_size: int = 64             # requests waiting at most; more are refused with "queue full". At 16, 32
                                     # chat clients on 2 cores got 145 answers in 60 s and 3,009 refusals (the
                                     # refused ones ask again at once); at 64, 580 answers and none (bench/load.py)
    concurrency: int = 1             # requests served at once per event


@dataclass(frozen=True)
class StudioConfig:
    """Everything the studio needs to start, already validated."""

    config_path: str                 # absolute path of the spaces.yaml read
    profile: str
    roles: dict[str, RoleSource]     # role → source; a role absent here is disabled
    device: str                      # one of DEVICES
    dtype: str                       # one of DTYPES
    limits: Limits
    server: ServerConfig
    quantize: str | None = None      # int8 | int4 | fp8 weights for the language model; None = as stored
    search: "SearchConfig | None" = None   # where the Search switch looks; None = the defaults (SearchConfig())
    fast_decode: bool = True         # compile the language model's decode step in the background (modules.fast_decode)
    batch_decode: bool = False       # concurrent answers of the built-in model share decode steps (modules.batch_decode)


def on_spaces(environ: Mapping[str, str] | None = None) -> bool:
    """True when running on Hugging Face Spaces (SPACE_ID is set)."""
    return bool((os.environ if environ is None else environ).get("SPACE_ID"))


class _Parser(argparse.ArgumentParser):
    """Bad flags raise ConfigError (one line, exit 2 in app.py) instead of printing usage."""

    def error(self, message: str):
        raise ConfigError(message)


def build_arg_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="app.py", description="OmniMoE Studio: a multimodal mixture-of-experts studio in the browser. "
                "Each option can also be set by the environment variable named in its help; a flag wins over "
                "the variable, the variable over the profile in spaces.yaml.")
    add = p.add_argument
    add("--config", metavar="FILE", help="profiles file (env OMNIMOE_CONFIG; default: spaces.yaml next to app.py)")
    add("--profile", help="profile of the config file to run (env OMNIMOE_PROFILE; default: the file's default_profile)")
    add("--host", help="address to listen on (env OMNIMOE_HOST, then GRADIO_SERVER_NAME; "
        "default: 127.0.0.1, or 0.0.0.0 on Hugging Face Spaces)")
    add("--port", metavar="N", help="port to listen on, 1..65535 (env OMNIMOE_PORT, then GRADIO_SERVER_PORT; default: 7860)")
    add("--share", action="store_true", default=None, help="create a public gradio share link "
        "(env OMNIMOE_SHARE=1/true/yes; default: off; always off on Hugging Face Spaces)")
    add("--auth-file", metavar="FILE", help="require a login: one user:password per line, blank lines and # comments "
        "ignored (env OMNIMOE_AUTH_FILE, or OMNIMOE_AUTH='user:pass,user2:pass2'; default: no login)")
    add("--device", help=f"where models run: {_choices(DEVICES)} (env OMNIMOE_DEVICE; default: the profile's, else auto)")
    add("--dtype", help=f"weight precision: {_choices(DTYPES)} (env OMNIMOE_DTYPE; default: the profile's, else auto)")
    add("--quantize", help=f"quantize the language model's weights: {_choices(QUANTIZE)} (env OMNIMOE_QUANTIZE; "
        "default: the profile's language_model.quantize, else none); needs a library that supports it on the device")
    add("--max-file-size", metavar="SIZE", help="largest upload, e.g. 20mb, 512kb, 1gb or bytes "
        f"(env OMNIMOE_MAX_FILE_SIZE; default: the profile's limit, else {Limits.max_file_size})")
    add("--max-request-size", metavar="SIZE", help="largest body of a /v1 request, e.g. 20mb; a larger one is refused "
        f"with 413 before it is read (env OMNIMOE_MAX_REQUEST_SIZE; default: the profile's limit, else "
        f"{Limits.max_request_size})")
    add("--request-timeout", metavar="SECONDS", help="longest time one request may compute; past it, it stops and "
        "says so (env OMNIMOE_REQUEST_TIMEOUT; default: the profile's limit, else "
        f"{Limits.request_timeout:g})")
    add("--queue-size", metavar="N", help="requests that may wait, at least 1 "
        f"(env OMNIMOE_QUEUE_SIZE; default: {ServerConfig.queue_size})")
    add("--concurrency", metavar="N", help="requests served at once, at least 1 "
        f"(env OMNIMOE_CONCURRENCY; default: {ServerConfig.concurrency})")
    add("--search-url", metavar="URL", help="a SearXNG instance for the Search switch, e.g. http://localhost:8888 "
        "(env OMNIMOE_SEARCH_URL; default: the profile's search.url, else the local documents)")
    add("--search-docs", metavar="PATH", help="a folder or file of documents (txt, md, html, pdf) the Search switch "
        "looks in (env OMNIMOE_SEARCH_DOCS; default: the profile's search.documents, else the studio's own docs)")
    add("--no-fast-decode", action="store_true", default=None, help="keep the language model's eager decode loop: "
        "no static cache, no compiled step, nothing compiled at start-up (env OMNIMOE_FAST_DECODE=0; default: on)")
    add("--batch-decode", action="store_true", default=None, help="concurrent chat and describe requests to the "
        "built-in language model share its decode steps (continuous batching); also raises the --concurrency "
        f"default to {BATCH_CONCURRENCY} (env OMNIMOE_BATCH_DECODE=1; default: off)")
    add("--search-allow-private", action="store_true", default=None, help="let search fetch from private and "
        "loopback addresses, for a SearXNG on this machine or network (env OMNIMOE_SEARCH_ALLOW_PRIVATE=1)")
    return p


# ---- small validators: each names where the value came from ----

def _first(*candidates: tuple[str, Any]) -> tuple[str, Any] | None:
    """The first (where, value) whose value is set (not None, not '')."""
    return next(((w, v) for w, v in candidates if v is not None and v != ""), None)


def _choice(where: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ConfigError(f"{where}: {value!r} is not valid; valid choices: {_choices(choices)}")
    return text


def _int(where: str, value: Any, lo: int, hi: int | None = None) -> int:
    text = "" if isinstance(value, (bool, float)) else str(value).strip()   # 1.5 and true are not counts
    number = int(text) if re.fullmatch(r"[+-]?\d+", text) else None
    if number is None or number < lo or (hi is not None and number > hi):
        span = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
        raise ConfigError(f"{where}: {value!r} is not valid; expected a whole number, {span}")
    return number


def _positive_float(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{where}: {value!r} is not valid; expected a positive number")
    return float(value)


def _flag(where: str, value: str) -> bool:
    text = value.strip().lower()
    if text not in _TRUE + _FALSE:
        raise ConfigError(f"{where}: {value!r} is not valid; valid choices: {_choices(_TRUE + _FALSE)}")
    return text in _TRUE


def _modalities(where: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {value!r} is not valid; expected a list of {_choices(MODALITIES)}")
    return tuple(_choice(where, v, MODALITIES) for v in value)


# ---- spaces.yaml ----

def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {_choices(TOP_LEVEL_KEYS)}")
    unknown = sorted(set(doc) - set(TOP_LEVEL_KEYS), key=str)
    if unknown:
        raise ConfigError(f"{path.name}: unknown key {unknown[0]!r}; valid keys: {_choices(TOP_LEVEL_KEYS)}")
    profiles = doc.get("profiles")
    if not isinstance(profiles, dict) or not profiles:
        raise ConfigError(f"{path.name}: 'profiles' must map profile names to their roles and settings")
    return doc


def _resolve_source(source: str, base: Path) -> str:
    """Make relative paths absolute against the yaml file's folder; hub ids stay as they are."""
    if source.startswith("hf-hub:"):
        return source
    if source.startswith("local-dir:"):
        return "local-dir:" + os.path.normpath(base / Path(source[len("local-dir:"):]).expanduser())
    path = Path(source).expanduser()
    if path.is_absolute():
        return str(path)
    local = os.path.normpath(base / path)
    # "org/name" that is not a folder here is a hub id, as from_pretrained reads it
    return source if _HUB_ID.match(source) and not os.path.exists(local) else local


def _role_source(where: str, spec: Any, base: Path, role: str = "") -> RoleSource:
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping such as {{source: org/name}}, got {spec!r}")
    rest = dict(spec)
    source, kind, trust = rest.pop("source", None), rest.pop("kind", None), rest.pop("trust_remote_code", False)
    if "backend" in rest:                                  # language_model: {backend: openai, base_url: …}
        backend = rest.pop("backend")
        if kind is not None and kind != backend:
            raise ConfigError(f"{where}: 'backend' {backend!r} and 'kind' {kind!r} disagree; give one of them")
        kind = _choice(f"{where}.backend", backend, LM_BACKENDS)
    if kind is not None and not isinstance(kind, str):
        raise ConfigError(f"{where}.kind: {kind!r} is not valid; expected a name such as prefix or text")
    if role == "bridge" and kind is not None:
        kind = _choice(f"{where}.kind", kind, BRIDGE_KINDS)
    if role == "language_model" and kind is not None:
        kind = _choice(f"{where}.kind", kind, LM_KINDS)
    if role == "language_model" and "thinking" in rest:
        rest["thinking"] = _thinking_mode(f"{where}.thinking", rest["thinking"], kind == "openai")
    if role == "language_model" and "speech_max_tokens" in rest:
        rest["speech_max_tokens"] = _int(f"{where}.speech_max_tokens", rest["speech_max_tokens"], 1)
    for frames, low in (("speech_chunk_frames", 0), ("speech_left_context", 1)):   # streamed speech (talker_stream)
        if role == "language_model" and frames in rest:
            rest[frames] = _int(f"{where}.{frames}", rest[frames], low)
    if role == "language_model" and kind == "openai":
        base_url = rest.get("base_url")
        if not isinstance(base_url, str) or not re.match(r"^https?://\S+$", base_url.strip()):
            raise ConfigError(f"{where}.base_url: {base_url!r} is not valid; the openai backend needs the server's "
                              "address, e.g. http://localhost:8000/v1")
        if "model" in rest and not isinstance(rest["model"], str):
            raise ConfigError(f"{where}.model: {rest['model']!r} is not valid; expected a model name (or leave it "
                              "out to use the first model the server lists)")
        rest["base_url"] = base_url.strip().rstrip("/")
        if "modalities" in rest:
            rest["modalities"] = _modalities(f"{where}.modalities", rest["modalities"])
        if "tokenizer" in rest:             # the served model's tokenizer: counts in tokens (modules.remote_lm)
            tokenizer = rest["tokenizer"]
            if not isinstance(tokenizer, str) or not tokenizer.strip():
                raise ConfigError(f"{where}.tokenizer: {tokenizer!r} is not valid; expected the hub id (org/name) or "
                                  "folder of the served model's tokenizer, or leave it out")
            rest["tokenizer"] = _resolve_source(tokenizer.strip(), base)
        return RoleSource(source.strip() if isinstance(source, str) and source.strip() else rest["base_url"],
                          kind, False, rest)
    if rest.get("dtype") is not None:
        rest["dtype"] = _choice(f"{where}.dtype", rest["dtype"], DTYPES)
    if role == "language_model" and rest.get("quantize") is not None:
        rest["quantize"] = _choice(f"{where}.quantize", rest["quantize"], QUANTIZE)
    if role == "bridge" and kind == "text" and source is None:
        return RoleSource("text", kind, False, rest)       # captions and tags need no weights of their own
    if not isinstance(source, str) or source.strip() in ("", "hf-hub:", "local-dir:"):
        raise ConfigError(f"{where}.source: {source!r} is not valid; expected a hub id (org/name), "
                          "hf-hub:org/name, local-dir:PATH or a path")
    if not isinstance(trust, bool):
        raise ConfigError(f"{where}.trust_remote_code: {trust!r} is not valid; valid choices: true, false")
    return RoleSource(_resolve_source(source.strip(), base), kind, trust, rest)


def _thinking_mode(where: str, value: Any, remote: bool) -> str:
    """language_model.thinking: template | tags | none (modules.thinking); an openai backend: template | none."""
    from .thinking import check_mode

    try:
        return check_mode(where, value, remote)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _seconds(where: str, value: Any) -> float:
    """A positive number of seconds from YAML (a number) or a flag or variable (text)."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not number > 0:   # NaN fails > too
        raise ConfigError(f"{where}: {value!r} is not valid; expected a positive number of seconds")
    return float(number)


def _limits(where: str, spec: Any, overrides: dict[str, tuple[str, Any] | None]) -> Limits:
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected a mapping of limits; valid keys: {_choices(LIMIT_KEYS)}")
    values: dict[str, Any] = {}
    for key, value in spec.items():
        at = f"{where}.{key}"
        if key not in LIMIT_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}; valid keys: {_choices(LIMIT_KEYS)}")
        values[key] = _limit(at, key, value)
    for key, chosen in overrides.items():                # flag or environment variable wins
        if chosen is not None:
            values[key] = _limit(chosen[0], key, chosen[1])
    return Limits(**values)


def _limit(where: str, key: str, value: Any) -> Any:
    """One limit's value, checked by its kind: a size, seconds, or a whole number."""
    if key in ("max_file_size", "max_request_size"):
        parse_size(value, where)
        return str(value).strip()
    if key == "max_audio_seconds":
        return _positive_float(where, value)
    if key == "request_timeout":
        return _seconds(where, value)
    return _int(where, value, 1)


# ---- login ----

def _auth_pair(where: str, text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user.strip() or not password:
        raise ConfigError(f"{where}: expected user:password")   # the text itself may hold a secret: not echoed
    return user.strip(), password


def _no_duplicates(where: str, pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    users = [u for u, _ in pairs]
    for user in users:
        if users.count(user) > 1:
            raise ConfigError(f"{where}: user {user!r} appears more than once")
    return tuple(pairs)


def parse_auth_file(path: str | os.PathLike) -> tuple[tuple[str, str], ...]:
    """user:password per line; blank lines and lines starting with # are skipped."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"auth file {path}: cannot read it ({e.strerror or e})") from None
    pairs = [_auth_pair(f"auth file {path} line {n}", line.strip())
             for n, line in enumerate(lines, 1) if line.strip() and not line.strip().startswith("#")]
    if not pairs:
        raise ConfigError(f"auth file {path}: no user:password lines")
    return _no_duplicates(f"auth file {path}", pairs)


def parse_auth_pairs(text: str, where: str = "OMNIMOE_AUTH") -> tuple[tuple[str, str], ...]:
    """'user:pass,user2:pass2' (a password cannot hold a comma here; use an auth file)."""
    entries = [e.strip() for e in text.split(",")]
    return _no_duplicates(where, [_auth_pair(f"{where} entry {n}", e) for n, e in enumerate(entries, 1) if e])


# ---- putting it together ----

def load_config(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> StudioConfig:
    args = build_arg_parser().parse_args(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ

    # 1. the file and the profile
    chosen = _first(("--config", args.config), ("OMNIMOE_CONFIG", env.get("OMNIMOE_CONFIG")))
    config_path = Path(chosen[1] if chosen else DEFAULT_CONFIG).expanduser().resolve()
    doc = _read_yaml(config_path)
    profiles, name_of = doc["profiles"], config_path.name
    picked = _first(("--profile", args.profile), ("OMNIMOE_PROFILE", env.get("OMNIMOE_PROFILE")),
                    (f"{name_of}: default_profile", doc.get("default_profile")))
    if picked is None:
        raise ConfigError(f"no profile chosen: pass --profile or set default_profile in {name_of}; "
                          f"valid choices: {_choices(profiles)}")
    if picked[1] not in profiles:
        raise ConfigError(f"{picked[0]}: unknown profile {picked[1]!r}; valid choices: {_choices(profiles)}")
    profile_name = picked[1]
    profile = profiles[profile_name]
    at = f"{name_of}: profiles.{profile_name}"
    if not isinstance(profile, dict):
        raise ConfigError(f"{at}: expected a mapping of roles ({_choices(ROLES)}) and settings")
    for key in profile:
        if key not in ROLES + PROFILE_SETTINGS:
            raise ConfigError(f"{at}: unknown key {key!r}; valid roles: {_choices(ROLES)}; "
                              f"valid settings: {_choices(PROFILE_SETTINGS)}")

    # 2. roles, device, dtype, limits
    roles = {role: _role_source(f"{at}.{role}", profile[role], config_path.parent, role)
             for role in ROLES if role in profile}
    device = _choice(*_first(("--device", args.device), ("OMNIMOE_DEVICE", env.get("OMNIMOE_DEVICE")),
                             (f"{at}.device", profile.get("device")), ("default", "auto")), DEVICES)
    dtype = _choice(*_first(("--dtype", args.dtype), ("OMNIMOE_DTYPE", env.get("OMNIMOE_DTYPE")),
                            (f"{at}.dtype", profile.get("dtype")), ("default", "auto")), DTYPES)
    lm = roles.get("language_model")
    quantize = _choice(*_first(("--quantize", args.quantize), ("OMNIMOE_QUANTIZE", env.get("OMNIMOE_QUANTIZE")),
                               (f"{at}.language_model.quantize", lm.options.get("quantize") if lm else None),
                               ("default", "none")), QUANTIZE)
    limits = _limits(f"{at}.limits", profile.get("limits"), {
        "max_file_size": _first(("--max-file-size", args.max_file_size),
                                ("OMNIMOE_MAX_FILE_SIZE", env.get("OMNIMOE_MAX_FILE_SIZE"))),
        "max_request_size": _first(("--max-request-size", args.max_request_size),
                                   ("OMNIMOE_MAX_REQUEST_SIZE", env.get("OMNIMOE_MAX_REQUEST_SIZE"))),
        "request_timeout": _first(("--request-timeout", args.request_timeout),
                                  ("OMNIMOE_REQUEST_TIMEOUT", env.get("OMNIMOE_REQUEST_TIMEOUT")))})

    # 3. the server
    spaces = on_spaces(env)
    host = _first(("--host", args.host), ("OMNIMOE_HOST", env.get("OMNIMOE_HOST")),
                  ("GRADIO_SERVER_NAME", env.get("GRADIO_SERVER_NAME")))
    port = _first(("--port", args.port), ("OMNIMOE_PORT", env.get("OMNIMOE_PORT")),
                  ("GRADIO_SERVER_PORT", env.get("GRADIO_SERVER_PORT")))
    share = args.share or _flag("OMNIMOE_SHARE", env.get("OMNIMOE_SHARE") or "0")
    auth_file = _first(("--auth-file", args.auth_file), ("OMNIMOE_AUTH_FILE", env.get("OMNIMOE_AUTH_FILE")))
    if auth_file is not None:
        auth = parse_auth_file(Path(auth_file[1]).expanduser())
    else:
        auth = parse_auth_pairs(env.get("OMNIMOE_AUTH") or "")
    batch_decode = bool(args.batch_decode) or bool(_flag("OMNIMOE_BATCH_DECODE", env.get("OMNIMOE_BATCH_DECODE") or "0"))
    queue = _first(("--queue-size", args.queue_size), ("OMNIMOE_QUEUE_SIZE", env.get("OMNIMOE_QUEUE_SIZE")))
    concurrency = _first(("--concurrency", args.concurrency), ("OMNIMOE_CONCURRENCY", env.get("OMNIMOE_CONCURRENCY")))
    server = ServerConfig(
        host=host[1].strip() if host else ("0.0.0.0" if spaces else ServerConfig.host),
        port=_int(*port, 1, 65535) if port else ServerConfig.port,
        share=bool(share) and not spaces,               # a Space is public already; a share link would fail
        auth=auth,
        queue_size=_int(*queue, 1) if queue else ServerConfig.queue_size,
        concurrency=_int(*concurrency, 1) if concurrency else (BATCH_CONCURRENCY if batch_decode
                                                               else ServerConfig.concurrency),
    )
    fast_decode = not args.no_fast_decode and _flag("OMNIMOE_FAST_DECODE", env.get("OMNIMOE_FAST_DECODE") or "1")
    return StudioConfig(str(config_path), profile_name, roles, device, dtype, limits, server,
                        None if quantize == "none" else quantize,
                        _search(f"{at}.search", profile.get("search"), config_path.parent, args, env), fast_decode,
                        batch_decode)


def _search(where: str, spec: Any, base: Path, args, env: Mapping[str, str]) -> "SearchConfig":
    from .search.settings import read_search_config

    flags = {"url": _first(("--search-url", args.search_url), ("OMNIMOE_SEARCH_URL", env.get("OMNIMOE_SEARCH_URL"))),
             "documents": _first(("--search-docs", args.search_docs),
                                 ("OMNIMOE_SEARCH_DOCS", env.get("OMNIMOE_SEARCH_DOCS"))),
             "allow_private": _first(("--search-allow-private", "1" if args.search_allow_private else None),
                                     ("OMNIMOE_SEARCH_ALLOW_PRIVATE", env.get("OMNIMOE_SEARCH_ALLOW_PRIVATE")))}
    return read_search_config(where, spec, base, flags, ConfigError, _int, parse_size, _flag)
