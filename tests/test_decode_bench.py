"""bench/decode.py's choices: the shapes it builds, a clear message for a shape it does not know or one too large for
the device, and the weights a token reads (k of n routed experts) that its GPU roofline share is computed from."""
import pytest
import torch

from bench.decode import parse_args
from bench.decode_shapes import SHAPES, active_weight_bytes, build


def test_an_unknown_shape_names_the_valid_ones(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--shape", "giant"])
    assert "unknown shape 'giant'; valid choices: builtin, small, moonlight, deepseek-v2-lite" in capsys.readouterr().err


def test_a_gpu_shape_on_the_cpu_says_how_to_run_it(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--shape", "moonlight"])
    assert "--device cuda --dtype bfloat16" in capsys.readouterr().err


def test_defaults_follow_the_device():
    assert parse_args([]).shape == ["builtin", "small"]
    on_gpu = parse_args(["--device", "cuda"])
    assert on_gpu.shape == ["builtin", "moonlight", "deepseek-v2-lite"]
    assert on_gpu.generate_experts == ["eager", "grouped_mm"]


def test_a_token_reads_every_weight_but_the_idle_routed_experts():
    model, _ = build("small", "cpu", torch.float32)
    shape = SHAPES["small"]
    expert = 3 * shape["hidden_size"] * shape["moe_intermediate_size"]        # gate, up and down of one expert
    moe_layers = shape["num_hidden_layers"] - shape["first_k_dense_replace"]
    idle = moe_layers * (shape["n_routed_experts"] - shape["num_experts_per_tok"]) * expert
    total = sum(p.numel() for p in model.parameters())
    assert active_weight_bytes(model) == 4 * (total - idle)
