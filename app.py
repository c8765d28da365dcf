"""OmniMoE Studio: command line and environment → config → pipeline → UI → launch(). `python app.py --help`."""
from __future__ import annotations

import sys
import threading
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
        app_kwargs=api_app_kwargs(pipeline, config),   # OpenAI-compatible /v1/models and /v1/chat/completions
    )
    if not zero_gpu:
        threading.Thread(target=pipeline.preload, name="preload", daemon=True).start()   # the page serves meanwhile
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
