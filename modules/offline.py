"""Start-up check of a profile's hub sources against the local cache: offline, a missing checkpoint stops the studio.

`python app.py` calls `preflight(config)` before it builds the pipeline. A source that is a hub id ("org/name" or
"hf-hub:org/name") must have, in the Hugging Face cache, the files its loader reads (config, tokenizer, safetensors
weights, every shard of a sharded checkpoint). When one is missing and the hub cannot be reached (HF_HUB_OFFLINE=1,
or no network), the message names every missing source and the commands that download them ahead of time, and
app.py exits with code 2. Only huggingface_hub is imported here: the check takes about a second.

    python -m modules.offline --profile hub-cpu            # what is missing, and the commands
    python -m modules.offline --profile hub-cpu --download # fetch exactly what the loaders read (no pickles)
"""
from __future__ import annotations

import json
import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = ("1", "true", "yes", "on")
# What each role's loader reads; everything else in a repo (pickles, ONNX, Flax, fp16 variants) is left behind.
INCLUDE = {
    "language_model": ["*.json", "*.jinja", "*.safetensors", "*.model", "*.txt", "*.tiktoken"],
    "image_encoder": ["*.json", "*.safetensors", "*.txt"],
    "audio_encoder": ["*.json", "*.jinja", "*.safetensors", "*.txt"],
    "bridge": ["*.json", "*.safetensors"],
    "image_decoder": ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"],
}
EXCLUDE = {"image_decoder": ["*.fp16.safetensors"]}
KEY_FILE = {"language_model": "config.json", "image_encoder": "open_clip_config.json", "audio_encoder": "config.json",
            "bridge": "config.json", "image_decoder": "model_index.json"}


class StartupError(RuntimeError):
    """The studio cannot start as configured; the message says what to do. app.py prints it and exits 2."""


@dataclass(frozen=True)
class MissingSource:
    role: str
    repo_id: str
    what: str            # what the cache lacks, e.g. "nothing cached" or "weights shard 2 of 4"
    trust_remote_code: bool = False
    revision: str | None = None

    def command(self) -> str:
        patterns = INCLUDE[self.role] + (["*.py"] if self.trust_remote_code else [])
        parts = ["hf download", self.repo_id] + ([f"--revision {self.revision}"] if self.revision else [])
        parts += [f'--include "{p}"' for p in patterns]
        parts += [f'--exclude "{p}"' for p in EXCLUDE.get(self.role, [])]
        return " ".join(parts)


def hub_id(role: str, source) -> str | None:
    """The hub repo id a role's source names, or None for local folders, remote servers and the text bridge."""
    if (role == "language_model" and source.kind == "openai") or (role == "bridge" and source.kind == "text"):
        return None
    text = source.source
    if text.startswith("hf-hub:"):
        return text[len("hf-hub:"):].strip("/")
    if text.startswith("local-dir:") or os.path.isabs(text):
        return None
    return text if _HUB_ID.match(text) else None


# ---- what the cache holds ----------------------------------------------------------------------------------

def _cached_snapshot(repo_id: str, key_file: str, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo_id, key_file, revision=revision)
    return Path(path).parent if isinstance(path, str) else None


def _weights_gap(folder: Path, where: str = "") -> str | None:
    """None when the folder holds complete safetensors weights; else what is missing."""
    for index in sorted(folder.glob("*.safetensors.index.json")):
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError):
            return f"{where}{index.name} is unreadable"
        absent = [s for s in shards if not (folder / s).is_file()]
        if absent:
            return f"{where}{len(absent)} of {len(shards)} weight shards ({absent[0]}, …)"
        return None
    if not any(p.is_file() for p in folder.glob("*.safetensors")):
        return f"{where}safetensors weights"
    return None


def _diffusers_gap(snapshot: Path) -> str | None:
    try:
        index = json.loads((snapshot / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "model_index.json is unreadable"
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or spec[0] is None:
            continue
        folder = snapshot / name
        if not folder.is_dir() or not any(folder.iterdir()):
            return f"the {name} folder"
        kind = str(spec[1]).lower()
        if not any(word in kind for word in ("tokenizer", "scheduler", "processor", "extractor")):
            gap = _weights_gap(folder, f"{name}: ")
            if gap:
                return gap
    return None


def cache_gap(role: str, repo_id: str, revision: str | None = None) -> str | None:
    """None when the cache holds everything the role's loader reads from repo_id; else what is missing."""
    snapshot = _cached_snapshot(repo_id, KEY_FILE[role], revision)
    if snapshot is None:
        return KEY_FILE[role] if _any_snapshot(repo_id) else "nothing cached"
    if role == "image_decoder":
        return _diffusers_gap(snapshot)
    if role == "language_model" and not any((snapshot / f).is_file() for f in
                                            ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        return "the tokenizer"
    if role == "audio_encoder":
        try:
            model_type = json.loads((snapshot / "config.json").read_text(encoding="utf-8")).get("model_type")
        except (OSError, ValueError):
            return "config.json is unreadable"
        if model_type == "clap" and not any((snapshot / f).is_file()
                                            for f in ("preprocessor_config.json", "processor_config.json")):
            return "preprocessor_config.json"
    return _weights_gap(snapshot)


def _any_snapshot(repo_id: str) -> bool:
    from huggingface_hub import constants

    folder = Path(constants.HF_HUB_CACHE) / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    return folder.is_dir() and any(folder.iterdir())


def missing_sources(config) -> list[MissingSource]:
    """Every hub source of the profile whose files are not all in the local cache."""
    missing = []
    for role, source in config.roles.items():
        repo = hub_id(role, source)
        if repo is None:
            continue
        gap = cache_gap(role, repo, source.options.get("revision"))
        if gap is not None:
            missing.append(MissingSource(role, repo, gap, source.trust_remote_code, source.options.get("revision")))
    return missing


# ---- can the hub be reached? ---------------------------------------------------------------------------------

def hub_offline(environ: Mapping[str, str] | None = None, timeout_s: float = 3.0) -> bool:
    """True with HF_HUB_OFFLINE=1 (or TRANSFORMERS_OFFLINE=1), or when the hub's host does not answer."""
    env = os.environ if environ is None else environ
    if any(str(env.get(name, "")).strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    host = urlparse(env.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return False
    except OSError:
        return True


def stop_message(config, missing: list[MissingSource]) -> str:
    lines = [f"the profile '{config.profile}' needs checkpoints that are not in the local Hugging Face cache, "
             "and the hub cannot be reached (HF_HUB_OFFLINE=1 or no network):"]
    lines += [f"  - {m.role}: {m.repo_id} (missing: {m.what})" for m in missing]
    lines += ["Download them ahead of time on a machine with network (the same HF_HOME / HF_HUB_CACHE as here):"]
    lines += [f"  {m.command()}" for m in missing]
    from .config import DEFAULT_CONFIG

    config_flag = "" if Path(config.config_path) == DEFAULT_CONFIG.resolve() else f" --config {config.config_path}"
    lines += ["or all at once:", f"  python -m modules.offline --profile {config.profile}{config_flag} --download",
              "or start another profile, e.g. --profile mini (the built-in models)."]
    return "\n".join(lines)


def preflight(config, environ: Mapping[str, str] | None = None) -> None:
    """Raise StartupError when the studio cannot start as configured (missing checkpoints offline, quantization
    that this machine cannot do). Fast: nothing is loaded."""
    missing = missing_sources(config)
    if missing and hub_offline(environ):
        raise StartupError(stop_message(config, missing))
    if config.device not in ("auto", "cpu"):             # an explicit GPU that is not there
        from .devices import resolve_device

        try:
            resolve_device(config.device)
        except RuntimeError as error:
            raise StartupError(f"--device: {error}; use --device auto or cpu, or a machine with it") from None
    if config.quantize:
        from .quantize import QuantizeUnavailable, check_quantize

        try:
            check_quantize(config.quantize, config.device)
        except QuantizeUnavailable as error:
            raise StartupError(str(error)) from None


# ---- python -m modules.offline -------------------------------------------------------------------------------

def download(config) -> None:
    from huggingface_hub import snapshot_download

    for role, source in config.roles.items():
        repo = hub_id(role, source)
        if repo is None:
            continue
        patterns = INCLUDE[role] + (["*.py"] if source.trust_remote_code else [])
        print(f"{role}: {repo}", flush=True)
        snapshot_download(repo, revision=source.options.get("revision"), allow_patterns=patterns,
                          ignore_patterns=EXCLUDE.get(role))


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError, load_config

    argv = list(sys.argv[1:] if argv is None else argv)
    fetch = "--download" in argv
    argv = [a for a in argv if a != "--download"]
    try:
        config = load_config(argv)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if fetch:
        download(config)
    missing = missing_sources(config)
    if not missing:
        print(f"profile '{config.profile}': every hub checkpoint is in the local cache")
        return 0
    for m in missing:
        print(f"{m.role}: {m.repo_id} (missing: {m.what})\n  {m.command()}")
    return 1


if __name__ == "__main__":
    sys.exit(main())


def hub_folder(repo_id: str, role: str, revision: str | None = None) -> str:
    """The local folder of a hub repo holding only what the role's loader reads (from the cache when offline)."""
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id, revision=revision, allow_patterns=INCLUDE[role],
                             ignore_patterns=EXCLUDE.get(role))
