"""OmniMoE Studio: command line and environment → config → pipeline → UI → launch(). `python app.py --help`."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from modules import spaces_gpu
from modules.config import ConfigError, StudioConfig, load_config
from modules.offline import StartupError, preflight

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "assets" / "examples"     # the only project folder the server may hand out as files


def share_warning(config: StudioConfig) -> str | None:
    """The warning printed when a public share link is opened without a login."""
    if not config.server.share or config.server.auth:
        return None
    return "\n".join([
        "=" * 78,
        "WARNING: --share without a login. ANYONE WITH THE LINK CAN USE THIS STUDIO",
        "(and this machine's CPU/GPU) for as long as it runs.",
        "Add a login: put one user:password per line in a file and pass --auth-file FILE",
        "(or set OMNIMOE_AUTH_FILE=FILE, or OMNIMOE_AUTH='user:password').",
        "=" * 78,
    ])


def ready_line(demo, config: StudioConfig, device: str) -> str:
    """The line printed once the page answers: where, with which profile, on which device."""
    url = str(demo.local_url).rstrip("/")
    where = f"{url} (listening on {config.server.host})" if config.server.host in ("0.0.0.0", "::") else url
    if getattr(demo, "share_url", None):
        where += f" and {demo.share_url}"
    return f"OmniMoE Studio is ready on {where} (profile {config.profile}, device {device})"


def loaded_line(status: dict[str, str], seconds: float | None = None) -> str:
    """The line printed once every role of the profile has loaded or failed (status: role -> state)."""
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    ready = [role for role, state in status.items() if state == "ready"]
    failed = {role: state.removeprefix("unavailable: ") for role, state in status.items()
              if state.startswith("unavailable") and "not configured" not in state}
    if not failed:
        return f"Every model is loaded{took}: {', '.join(ready)}"
    off = "; ".join(f"{role}: {why}" for role, why in failed.items())
    return f"Models loaded{took}: {', '.join(ready) or 'none'}; NOT loaded: {off}"


def load_models(pipeline) -> None:
    """Load every role of the profile (the page serves meanwhile), then say so."""
    started = time.monotonic()
    pipeline.preload()
    print(loaded_line(pipeline.status(), time.monotonic() - started), flush=True)
    if pipeline.start_batch_decode():
        print(f"Batch decode: concurrent answers share the language model's decode steps (up to "
              f"{pipeline.config.server.concurrency} requests served at once)", flush=True)
    if pipeline.start_fast_decode():           # compiled in the background; answers use the eager loop meanwhile
        print("Fast decode: compiling the language model's decode step in the background (the page header says "
              "when it is ready; --no-fast-decode turns it off)", flush=True)


def main(argv: list[str] | None = None) -> int:
    try:
        config = spaces_gpu.prepare(load_config(argv))    # ZeroGPU: `spaces` before torch, models on cuda
        preflight(config)        # checkpoints missing offline, an absent GPU, an unsupported quantization: stop now
    except (ConfigError, StartupError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if warning := share_warning(config):
        print(warning, file=sys.stderr)

    from modules.api import api_app_kwargs
    from modules.pipeline import Pipeline      # heavy imports only once the config is known good
    from modules.ui import build_studio

    pipeline = Pipeline(config)
    zero_gpu = spaces_gpu.adopt(pipeline)      # ZeroGPU: loaded now; chat/describe/draw inside @spaces.GPU
    demo = build_studio(pipeline, config)
    demo.queue(max_size=config.server.queue_size, default_concurrency_limit=config.server.concurrency)
    demo.launch(
        server_name=config.server.host,
        server_port=config.server.port,
        share=config.server.share,
        auth=list(config.server.auth) or None,
        max_file_size=config.limits.max_file_bytes(),   # bytes: gradio rejects a unit-less string such as "1000"
        ssr_mode=False,
        allowed_paths=[str(EXAMPLES)],
        show_error=False,
        prevent_thread_lock=True,
        quiet=True,              # our own ready line instead of gradio's, whose hint names launch(share=True)
        app_kwargs=api_app_kwargs(pipeline, config),   # OpenAI-compatible /v1/models and /v1/chat/completions
    )
    print(ready_line(demo, config, pipeline.info().get("device", "?")), flush=True)
    if zero_gpu:
        print(loaded_line(pipeline.status()), flush=True)
    else:
        threading.Thread(target=load_models, args=(pipeline,), name="preload", daemon=True).start()  # page serves
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
