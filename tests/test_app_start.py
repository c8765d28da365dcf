"""The two lines app.py prints at start-up: where the page is ready, and whether every model loaded."""
from __future__ import annotations

import types

import app
from modules.config import load_config


def test_the_ready_line_names_the_address_profile_and_device():
    config = load_config(["--profile", "mini", "--host", "0.0.0.0", "--port", "7861"], environ={})
    demo = types.SimpleNamespace(local_url="http://localhost:7861/", share_url=None)    # as gradio sets them
    assert app.ready_line(demo, config, "cuda") == ("OmniMoE Studio is ready on http://localhost:7861 "
                                                    "(listening on 0.0.0.0) (profile mini, device cuda)")
    demo.share_url = "https://abc.gradio.live"
    assert " and https://abc.gradio.live (profile mini" in app.ready_line(demo, config, "cpu")


def test_the_loaded_line_says_which_roles_did_not_load_and_why():
    status = {"language_model": "ready", "image_encoder": "ready",
              "image_decoder": "unavailable: Drawing is off: the image_decoder from 'x' did not load (OSError: no)",
              "bridge": "unavailable: not configured in this profile"}                  # off on purpose: not named
    line = app.loaded_line(status, 2.345)
    assert line == ("Models loaded in 2.3 s: language_model, image_encoder; NOT loaded: image_decoder: Drawing is "
                    "off: the image_decoder from 'x' did not load (OSError: no)")
    assert app.loaded_line({"language_model": "ready"}) == "Every model is loaded: language_model"
