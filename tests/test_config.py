"""Configuration: spaces.yaml + flags + environment → StudioConfig, and the command line of app.py."""
import dataclasses
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from modules.config import DEVICES, DTYPES, ROLES, ConfigError, Limits, load_config

REPO = Path(__file__).resolve().parent.parent
LIMIT_KEYS = [f.name for f in dataclasses.fields(Limits)]


def write_yaml(tmp_path, profiles, default="main", name="spaces.yaml"):
    doc = {"profiles": profiles} if default is None else {"default_profile": default, "profiles": profiles}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture
def spaces(tmp_path):
    """A two-profile file: `main` sets device, dtype and a file-size limit; `other` sets nothing."""
    return write_yaml(tmp_path, {
        "main": {"language_model": {"source": "models/lm"}, "device": "cpu", "dtype": "float32",
                 "limits": {"max_file_size": "5mb", "max_new_tokens": 64}},
        "other": {"bridge": {"source": "models/bridge", "kind": "text"}},
    })


def load(path, argv=(), env=None):
    return load_config(["--config", str(path), *argv], env or {})


# ---- the shipped file ----

def test_shipped_mini_profile_names_all_roles_under_the_repo():
    config = load_config([], {})
    assert config.profile == "mini" and config.config_path == str(REPO / "spaces.yaml")
    assert set(config.roles) == set(ROLES)
    assert config.roles["language_model"].source == str(REPO / "assets/mini/language_model")
    assert config.roles["image_encoder"].source == "local-dir:" + str(REPO / "assets/mini/image_encoder")
    assert config.roles["bridge"].kind == "prefix"
    assert not any(r.trust_remote_code for r in config.roles.values())
    assert (config.device, config.dtype) == ("auto", "auto")
    assert config.limits.max_file_bytes() == 20 * 1024**2
    assert config.server.host == "127.0.0.1" and not config.server.share and config.server.auth == ()


# ---- precedence: flag > env > profile > default ----

@pytest.mark.parametrize("flag, env_name, profile_value, env_value, flag_value, read", [
    ("--device", "OMNIMOE_DEVICE", "cpu", "cuda", "mps", lambda c: c.device),
    ("--dtype", "OMNIMOE_DTYPE", "float32", "float16", "bfloat16", lambda c: c.dtype),
    ("--max-file-size", "OMNIMOE_MAX_FILE_SIZE", "5mb", "7mb", "9mb", lambda c: c.limits.max_file_size),
    ("--profile", "OMNIMOE_PROFILE", "main", "other", "main", lambda c: c.profile),
])
def test_flag_beats_env_beats_profile(spaces, flag, env_name, profile_value, env_value, flag_value, read):
    assert read(load(spaces)) == profile_value
    assert read(load(spaces, env={env_name: env_value})) == env_value
    assert read(load(spaces, [flag, flag_value], env={env_name: env_value})) == flag_value


@pytest.mark.parametrize("flag, env_name, key, profile_value, env_value, flag_value, read", [
    ("--request-timeout", "OMNIMOE_REQUEST_TIMEOUT", "request_timeout", 30, "45", "2.5",
     lambda c: c.limits.request_timeout),
    ("--max-request-size", "OMNIMOE_MAX_REQUEST_SIZE", "max_request_size", "1mb", "512kb", "3mb",
     lambda c: c.limits.max_request_bytes()),
])
def test_request_limits_come_from_flag_env_or_profile(tmp_path, flag, env_name, key, profile_value, env_value,
                                                       flag_value, read):
    path = write_yaml(tmp_path, {"main": {"limits": {key: profile_value}}, "other": {}})
    sizes = {"30": 30.0, "45": 45.0, "2.5": 2.5, "1mb": 1024**2, "512kb": 512 * 1024, "3mb": 3 * 1024**2}
    assert read(load(path)) == sizes[str(profile_value)]
    assert read(load(path, env={env_name: env_value})) == sizes[env_value]
    assert read(load(path, [flag, flag_value], env={env_name: env_value})) == sizes[flag_value]
    defaults = load(path, ["--profile", "other"]).limits
    assert (defaults.request_timeout, defaults.max_request_bytes()) == (120.0, 20 * 1024**2)


@pytest.mark.parametrize("argv, expected", [
    (["--request-timeout", "soon"], ["--request-timeout", "'soon'", "positive number of seconds"]),
    (["--request-timeout", "0"], ["--request-timeout", "'0'", "positive number of seconds"]),
    (["--max-request-size", "huge"], ["--max-request-size", "'huge'", "kb, mb"]),
])
def test_bad_request_limits_name_the_flag_and_what_is_valid(spaces, argv, expected):
    with pytest.raises(ConfigError) as error:
        load(spaces, argv)
    assert all(part in str(error.value) for part in expected), str(error.value)


def test_defaults_apply_where_the_profile_is_silent(spaces):
    config = load(spaces, ["--profile", "other"])
    assert (config.device, config.dtype, config.limits) == ("auto", "auto", Limits())
    assert config.server.port == 7860 and config.server.queue_size == 64 and config.server.concurrency == 1


def test_every_environment_variable_is_read(spaces, tmp_path):
    auth = tmp_path / "users.txt"
    auth.write_text("ada:lovelace\n", encoding="utf-8")
    config = load_config([], {
        "OMNIMOE_CONFIG": str(spaces), "OMNIMOE_PROFILE": "other", "OMNIMOE_HOST": "10.0.0.5",
        "OMNIMOE_PORT": "8123", "OMNIMOE_SHARE": "yes", "OMNIMOE_AUTH_FILE": str(auth),
        "OMNIMOE_DEVICE": "cuda", "OMNIMOE_DTYPE": "bfloat16", "OMNIMOE_MAX_FILE_SIZE": "512kb",
        "OMNIMOE_QUEUE_SIZE": "3", "OMNIMOE_CONCURRENCY": "2",
    })
    assert config.config_path == str(spaces) and config.profile == "other"
    assert (config.device, config.dtype) == ("cuda", "bfloat16")
    assert config.limits.max_file_bytes() == 512 * 1024
    assert config.server == type(config.server)(host="10.0.0.5", port=8123, share=True,
                                                auth=(("ada", "lovelace"),), queue_size=3, concurrency=2)
    inline = load(spaces, env={"OMNIMOE_AUTH": "ada:one, bob:two:with:colons"})
    assert inline.server.auth == (("ada", "one"), ("bob", "two:with:colons"))


@pytest.mark.parametrize("value, expected", [("1", True), ("TRUE", True), ("no", False), ("", False)])
def test_share_variable(spaces, value, expected):
    assert load(spaces, env={"OMNIMOE_SHARE": value}).server.share is expected


def test_gradio_variables_are_fallbacks_after_omnimoe_ones(spaces):
    gradio_env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "9000"}
    assert (load(spaces, env=gradio_env).server.host, load(spaces, env=gradio_env).server.port) == ("0.0.0.0", 9000)
    ours = load(spaces, env={**gradio_env, "OMNIMOE_HOST": "127.0.0.2", "OMNIMOE_PORT": "9001"}).server
    assert (ours.host, ours.port) == ("127.0.0.2", 9001)
    flags = load(spaces, ["--host", "127.0.0.3", "--port", "9002"], env={**gradio_env, "OMNIMOE_PORT": "9001"}).server
    assert (flags.host, flags.port) == ("127.0.0.3", 9002)


def test_on_spaces_share_is_forced_off_and_host_opens(spaces):
    server = load(spaces, ["--share"], env={"SPACE_ID": "org/studio", "OMNIMOE_SHARE": "1"}).server
    assert server.share is False and server.host == "0.0.0.0"
    assert load(spaces, ["--share"]).server.share is True          # the same flags off Spaces
    assert load(spaces, ["--host", "127.0.0.1"], env={"SPACE_ID": "org/studio"}).server.host == "127.0.0.1"


# ---- roles and sources ----

def test_sources_resolve_against_the_yaml_folder_and_keep_their_extras(tmp_path):
    (tmp_path / "acme" / "local").mkdir(parents=True)
    path = write_yaml(tmp_path, {"main": {
        "language_model": {"source": "openai-compatible/server", "kind": "openai",
                           "base_url": "http://localhost:8000/v1", "model": "m"},
        "image_encoder": {"source": "hf-hub:laion/CLIP-ViT-B-32", "revision": "abc"},
        "audio_encoder": {"source": "acme/local"},                  # "org/name" form, but a folder here
        "bridge": {"source": "local-dir:../elsewhere/bridge", "kind": "prefix"},
        "image_decoder": {"source": "stabilityai/sd-turbo", "trust_remote_code": True},
    }})
    roles = load(path).roles
    assert roles["language_model"].source == "openai-compatible/server"   # a hub id: no such folder
    assert roles["language_model"].options == {"base_url": "http://localhost:8000/v1", "model": "m"}
    assert roles["language_model"].kind == "openai"
    assert roles["image_encoder"].source == "hf-hub:laion/CLIP-ViT-B-32"
    assert roles["image_encoder"].options == {"revision": "abc"}
    assert roles["audio_encoder"].source == str(tmp_path / "acme" / "local")
    assert roles["bridge"].source == "local-dir:" + str(tmp_path.parent / "elsewhere" / "bridge")
    assert roles["image_decoder"].trust_remote_code is True
    assert roles["bridge"].trust_remote_code is False


def test_a_missing_role_is_allowed(spaces):
    assert set(load(spaces).roles) == {"language_model"}


def test_config_is_frozen(spaces):
    config = load(spaces)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.device = "cuda"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server.share = True


# ---- errors name the bad value and the valid choices ----

@pytest.mark.parametrize("argv, env, expected", [
    (["--device", "gpu"], {}, ["--device", "'gpu'", ", ".join(DEVICES)]),
    ([], {"OMNIMOE_DEVICE": "tpu"}, ["OMNIMOE_DEVICE", "'tpu'", ", ".join(DEVICES)]),
    (["--dtype", "half"], {}, ["--dtype", "'half'", ", ".join(DTYPES)]),
    (["--port", "0"], {}, ["--port", "'0'", "1..65535"]),
    (["--port", "65536"], {}, ["--port", "'65536'", "1..65535"]),
    ([], {"OMNIMOE_PORT": "http"}, ["OMNIMOE_PORT", "'http'", "1..65535"]),
    ([], {"GRADIO_SERVER_PORT": "-1"}, ["GRADIO_SERVER_PORT", "'-1'", "1..65535"]),
    (["--profile", "nope"], {}, ["--profile", "'nope'", "main, other"]),
    ([], {"OMNIMOE_PROFILE": "nope"}, ["OMNIMOE_PROFILE", "'nope'", "main, other"]),
    (["--max-file-size", "20zb"], {}, ["--max-file-size", "'20zb'", "b, kb, mb, gb, tb"]),
    (["--queue-size", "0"], {}, ["--queue-size", "'0'", "at least 1"]),
    ([], {"OMNIMOE_CONCURRENCY": "many"}, ["OMNIMOE_CONCURRENCY", "'many'", "at least 1"]),
    ([], {"OMNIMOE_SHARE": "maybe"}, ["OMNIMOE_SHARE", "'maybe'", "1, true, yes, 0, false, no"]),
    (["--no-such-flag"], {}, ["--no-such-flag"]),
])
def test_bad_flag_or_env_value_names_it_and_the_choices(spaces, argv, env, expected):
    with pytest.raises(ConfigError) as error:
        load(spaces, argv, env)
    message = str(error.value)
    assert "\n" not in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize("profile, expected", [
    ({"vision_model": {"source": "x"}}, ["'vision_model'", ", ".join(ROLES), "device, dtype, limits"]),
    ({"limits": {"max_tokens": 5}}, ["profiles.main.limits", "'max_tokens'", ", ".join(LIMIT_KEYS)]),
    ({"limits": {"max_new_tokens": 0}}, ["profiles.main.limits.max_new_tokens", "0"]),
    ({"limits": {"max_audio_seconds": "long"}}, ["max_audio_seconds", "'long'"]),
    ({"limits": {"max_file_size": "big"}}, ["max_file_size", "'big'", "kb, mb"]),
    ({"device": "tpu"}, ["profiles.main.device", "'tpu'", ", ".join(DEVICES)]),
    ({"dtype": "int8"}, ["profiles.main.dtype", "'int8'", ", ".join(DTYPES)]),
    ({"bridge": {"kind": "prefix"}}, ["profiles.main.bridge.source", "None"]),
    ({"bridge": "models/bridge"}, ["profiles.main.bridge", "mapping"]),
    ({"bridge": {"source": "b", "trust_remote_code": "yes"}}, ["bridge.trust_remote_code", "'yes'", "true, false"]),
    ({"language_model": {"source": "o/m", "kind": "omni"}},
     ["profiles.main.language_model.kind", "'omni'", "transformers, openai, native"]),
    ({"language_model": {"source": "o/m", "kind": "native", "speech_max_tokens": 0}},
     ["language_model.speech_max_tokens", "0", "at least 1"]),
])
def test_bad_profile_names_the_key_and_the_choices(tmp_path, profile, expected):
    path = write_yaml(tmp_path, {"main": profile, "spare": {}})
    with pytest.raises(ConfigError) as error:
        load(path)
    for part in expected:
        assert part in str(error.value)


def test_bad_file_level_settings(tmp_path):
    with pytest.raises(ConfigError, match=r"default_profile: unknown profile 'gone'; valid choices: a, b"):
        load(write_yaml(tmp_path, {"a": {}, "b": {}}, default="gone"))
    with pytest.raises(ConfigError, match=r"no profile chosen.*valid choices: a, b"):
        load(write_yaml(tmp_path, {"a": {}, "b": {}}, default=None))
    assert load(write_yaml(tmp_path, {"a": {}, "b": {}}, default=None), ["--profile", "b"]).profile == "b"
    with pytest.raises(ConfigError, match=r"config file not found: .*absent\.yaml"):
        load(tmp_path / "absent.yaml")
    (tmp_path / "broken.yaml").write_text("profiles: {a: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load(tmp_path / "broken.yaml")
    (tmp_path / "extra.yaml").write_text("profiles: {a: {}}\nprofile: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'profile'; valid keys: default_profile, profiles"):
        load(tmp_path / "extra.yaml")


# ---- sizes and logins ----

@pytest.mark.parametrize("text, size", [("20mb", 20 * 1024**2), ("512kb", 512 * 1024), ("1gb", 1024**3),
                                        ("1000", 1000), ("20 MB", 20 * 1024**2), ("7b", 7)])
def test_max_file_bytes(text, size):
    assert Limits(max_file_size=text).max_file_bytes() == size


@pytest.mark.parametrize("text", ["", "mb", "1.5mb", "-3kb", "0", "12 parsecs"])
def test_max_file_bytes_rejects(text):
    with pytest.raises(ConfigError, match="b, kb, mb, gb, tb"):
        Limits(max_file_size=text).max_file_bytes()


def test_auth_file_skips_comments_and_blanks(spaces, tmp_path):
    auth = tmp_path / "users.txt"
    auth.write_text("# who may log in\n\nada:lovelace\n  bob : pa:ss word \n", encoding="utf-8")
    # the auth file wins over inline pairs
    server = load(spaces, ["--auth-file", str(auth)], env={"OMNIMOE_AUTH": "eve:x"}).server
    assert server.auth == (("ada", "lovelace"), ("bob", " pa:ss word"))


@pytest.mark.parametrize("text, expected", [
    ("ada:lovelace\n# ok\n\nhunter2\n", "line 4: expected user:password"),
    ("ada:\n", "line 1: expected user:password"),
    (":secret\n", "line 1: expected user:password"),
    ("ada:one\nada:two\n", "user 'ada' appears more than once"),
    ("# nobody\n", "no user:password lines"),
])
def test_malformed_auth_file_names_the_line_and_hides_it(spaces, tmp_path, text, expected):
    auth = tmp_path / "users.txt"
    auth.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load(spaces, ["--auth-file", str(auth)])
    assert expected in str(error.value) and str(auth) in str(error.value)
    assert "hunter2" not in str(error.value) and "secret" not in str(error.value)


def test_missing_auth_file_and_bad_inline_pairs(spaces, tmp_path):
    with pytest.raises(ConfigError, match=r"auth file .*nobody\.txt: cannot read it"):
        load(spaces, env={"OMNIMOE_AUTH_FILE": str(tmp_path / "nobody.txt")})
    with pytest.raises(ConfigError, match=r"OMNIMOE_AUTH entry 2: expected user:password"):
        load(spaces, env={"OMNIMOE_AUTH": "ada:x,hunter2"})


def test_share_without_login_warns(spaces, tmp_path):
    import app

    warning = app.share_warning(load(spaces, ["--share"]))
    assert "WARNING" in warning and "anyone with the link".upper() in warning.upper() and "--auth-file" in warning
    assert app.share_warning(load(spaces, ["--share"], env={"OMNIMOE_AUTH": "ada:x"})) is None
    assert app.share_warning(load(spaces)) is None


# ---- app.py's command line ----

def run_app(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIMOE_", "GRADIO_", "SPACE_ID"))}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "app.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_help_lists_every_option():
    """--help is quick because importing app loads nothing heavy (the next test), not timed here."""
    result = run_app("--help")
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())                      # argparse wraps lines
    for flag in ["--config", "--profile", "--host", "--port", "--share", "--auth-file", "--device", "--dtype",
                 "--max-file-size", "--queue-size", "--concurrency"]:
        assert flag in help_text
    for variable in ["OMNIMOE_CONFIG", "OMNIMOE_PROFILE", "OMNIMOE_HOST", "OMNIMOE_PORT", "OMNIMOE_SHARE",
                     "OMNIMOE_AUTH_FILE", "OMNIMOE_AUTH=", "OMNIMOE_DEVICE", "OMNIMOE_DTYPE",
                     "OMNIMOE_MAX_FILE_SIZE", "OMNIMOE_QUEUE_SIZE", "OMNIMOE_CONCURRENCY",
                     "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"]:
        assert variable in help_text
    for choice in DEVICES + DTYPES:
        assert choice in help_text


def test_importing_app_loads_nothing_heavy():
    probe = "import sys, app; print(sorted({'torch', 'gradio', 'transformers', 'modules.pipeline'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("args, env_extra, expected", [
    (["--device", "gpu"], {}, "'gpu'"),
    ([], {"OMNIMOE_PORT": "99999"}, "OMNIMOE_PORT"),
    (["--port"], {}, "--port"),
])
def test_bad_option_exits_2_with_one_line(args, env_extra, expected):
    result = run_app(*args, env_extra=env_extra)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr


def test_main_wires_config_into_gradio_queue_and_launch(spaces, tmp_path, monkeypatch, capsys):
    """main() with stand-in pipeline and UI: the calls it makes must fit the installed gradio's signatures."""
    import inspect
    import types

    import gradio as gr

    import app

    calls = {}

    class Demo:
        local_url, share_url = "http://127.0.0.1:8765/", None      # what launch() sets once the page answers

        def block_thread(self):
            calls["blocked"] = True

        def queue(self, **kwargs):
            inspect.signature(gr.Blocks.queue).bind(self, **kwargs)
            calls["queue"] = kwargs

        def launch(self, **kwargs):
            inspect.signature(gr.Blocks.launch).bind(self, **kwargs)
            calls["launch"] = kwargs

    class StandInPipeline(tuple):
        def preload(self):
            calls["preloaded"] = True

        def info(self):
            return {"profile": "stand-in", "device": "cpu"}

        def status(self):
            return {"language_model": "ready", "image_decoder": "unavailable: not configured in this profile"}

        def start_fast_decode(self):                  # asked for once the models are loaded; nothing to compile here
            calls["fast_decode"] = "preloaded" in calls
            return False

        def start_batch_decode(self):                 # asked for once the models are loaded (--batch-decode)
            calls["batch_decode"] = "preloaded" in calls
            return False

    pipeline = types.ModuleType("modules.pipeline")
    pipeline.Pipeline = lambda config: StandInPipeline(("pipeline", config))
    api = types.ModuleType("modules.api")
    api.api_app_kwargs = lambda pipe, config: {"routes": ["v1 routes of", pipe]}
    monkeypatch.setitem(sys.modules, "modules.api", api)
    (spaces.parent / "models" / "lm").mkdir(parents=True)        # a local folder: nothing to find in the hub cache
    def build_studio(pipe, config):
        calls["built"] = (pipe, config)
        return Demo()

    ui = types.ModuleType("modules.ui")
    ui.build_studio = build_studio
    monkeypatch.setitem(sys.modules, "modules.pipeline", pipeline)
    monkeypatch.setitem(sys.modules, "modules.ui", ui)
    for name in [k for k in os.environ if k.startswith(("OMNIMOE_", "GRADIO_SERVER_", "SPACE_ID"))]:
        monkeypatch.delenv(name)

    def models_loaded():                                              # they load after the page is up
        for thread in threading.enumerate():
            if thread.name == "preload":
                thread.join(timeout=30)

    assert app.main(["--config", str(spaces), "--share", "--port", "8765", "--max-file-size", "1000",
                     "--queue-size", "5", "--concurrency", "2"]) == 0
    models_loaded()
    config = calls["built"][1]
    assert calls["preloaded"] and calls["fast_decode"] and calls["batch_decode"]
    out = capsys.readouterr()
    assert out.out.splitlines() == [f"OmniMoE Studio is ready on http://127.0.0.1:8765 (profile {config.profile}, "
                                    "device cpu)", "Every model is loaded in 0.0 s: language_model"]
    assert "ANYONE WITH THE LINK" in out.err
    assert calls["built"][0] == ("pipeline", config) and config.server.port == 8765
    assert calls["queue"] == {"max_size": 5, "default_concurrency_limit": 2}
    launch = calls["launch"]
    assert (launch["server_name"], launch["server_port"], launch["share"]) == ("127.0.0.1", 8765, True)
    assert launch["auth"] is None and launch["max_file_size"] == 1000 and launch["ssr_mode"] is False
    assert launch["allowed_paths"] == [str(REPO / "assets" / "examples")] and launch["show_error"] is False
    assert launch["quiet"] is True                 # gradio's own lines (and its hint to pass share=True) are off
    assert launch["app_kwargs"] == {"routes": ["v1 routes of", calls["built"][0]]}    # served from the first request
    assert calls["blocked"]

    monkeypatch.setenv("OMNIMOE_AUTH", "ada:x,bob:y")
    assert app.main(["--config", str(spaces)]) == 0
    models_loaded()
    assert calls["launch"]["auth"] == [("ada", "x"), ("bob", "y")] and calls["launch"]["share"] is False
    assert "WARNING" not in capsys.readouterr().err
