"""GPU options for the language model: --quantize int8 | int4 | fp8 and device_map across several GPUs.

A method is used only where an installed library supports it on the chosen device; otherwise start-up stops
with a message that says what is missing (app.py calls check_quantize through modules.offline.preflight):

    int8  bitsandbytes on CUDA, else torchao (int8 weight-only; CPU or CUDA)
    int4  bitsandbytes NF4 on CUDA, else torchao int4 weight-only on CUDA with mslk installed (torchao 0.18's
          int4 weights need its kernels: without it loading stops with "Requires mslk >= 1.0.0")
    fp8   CUDA of compute capability 8.9+ (Ada, Hopper, Blackwell): transformers' fine-grained FP8, which loads
          its Triton kernel through the `kernels` package; else torchao float8 weight-only

Quantizers replace nn.Linear layers; a DeepSeek-V3 model's routed experts are fused 3-D weights in
transformers 5 and may stay in the load dtype under bitsandbytes (the attention and shared experts shrink).
`language_model: {source: …, device_map: auto}` spreads the layers over every visible GPU (accelerate).
"""
from __future__ import annotations

import importlib.util

METHODS = ("int8", "int4", "fp8")


class QuantizeUnavailable(RuntimeError):
    """The requested quantization cannot run here; the message names the method, the device and the remedy."""


def _has(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _backend(method: str, device_type: str, capability: tuple[int, int] | None) -> str:
    """Which library serves `method` on this device: 'bitsandbytes' | 'torchao' | 'fp8'; or QuantizeUnavailable."""
    if method not in METHODS:
        raise QuantizeUnavailable(f"--quantize {method!r} is not valid; valid choices: none, {', '.join(METHODS)}")
    cuda = device_type == "cuda"
    if method in ("int8", "int4") and cuda and _has("bitsandbytes"):
        return "bitsandbytes"
    if method == "int8" and _has("torchao") and device_type in ("cpu", "cuda"):
        return "torchao"
    if method == "int4" and cuda and _has("torchao") and _has("mslk"):
        return "torchao"
    if method == "fp8" and cuda and capability is not None and capability >= (8, 9):
        if _has("kernels"):
            return "fp8"
        if _has("torchao"):
            return "torchao"
        raise QuantizeUnavailable("--quantize fp8 needs the `kernels` package (transformers' fine-grained FP8 "
                                  "kernel) or torchao: pip install kernels   (or: pip install torchao)")
    installed = [p for p in ("bitsandbytes", "torchao", "mslk", "kernels") if _has(p)]
    where = f"cuda (compute capability {capability[0]}.{capability[1]})" if cuda and capability else device_type
    needs = {"int8": "CUDA with bitsandbytes, or torchao (CPU or CUDA)",
             "int4": "CUDA with bitsandbytes, or with torchao and mslk",
             "fp8": "an NVIDIA GPU of compute capability 8.9 or newer (Ada, Hopper) with kernels or torchao"}[method]
    raise QuantizeUnavailable(f"--quantize {method} is not supported on this machine: it needs {needs}; here the "
                              f"device is {where} and the quantization libraries installed are "
                              f"{', '.join(installed) or 'none'}. Run without --quantize (or --quantize none).")


def _device_facts(device_name: str):
    import torch

    from .devices import resolve_device

    try:
        device = resolve_device(device_name)
    except RuntimeError as error:
        raise QuantizeUnavailable(str(error)) from None
    capability = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
    return device, capability


def check_quantize(method: str, device_name: str) -> None:
    """Raise QuantizeUnavailable unless `method` can run on the configured device with what is installed."""
    device, capability = _device_facts(device_name)
    _backend(method, device.type, capability)


def quantization_config(method: str, device, dtype):
    """The transformers quantization config for `method` on `device`."""
    import torch

    capability = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
    backend = _backend(method, device.type, capability)
    if backend == "bitsandbytes":
        from transformers import BitsAndBytesConfig

        if method == "int8":
            return BitsAndBytesConfig(load_in_8bit=True)
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype)
    if backend == "fp8":
        from transformers import FineGrainedFP8Config

        return FineGrainedFP8Config()
    from torchao.quantization import Float8WeightOnlyConfig, Int4WeightOnlyConfig, Int8WeightOnlyConfig
    from transformers import TorchAoConfig

    kind = {"int8": Int8WeightOnlyConfig, "int4": Int4WeightOnlyConfig, "fp8": Float8WeightOnlyConfig}[method]
    return TorchAoConfig(kind())


def load_language_model(source, device, dtype, quantize: str | None):
    """The profile's language model, quantized and/or spread with a device_map; else as LanguageModel.load does."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .language_model import LanguageModel

    revision = source.options.get("revision")
    kwargs = {"dtype": dtype, "trust_remote_code": source.trust_remote_code, "use_safetensors": True,
              "revision": revision}
    if source.options.get("experts_implementation", "grouped_mm"):
        kwargs["experts_implementation"] = source.options.get("experts_implementation", "grouped_mm")
    device_map = source.options.get("device_map")
    if source.options.get("max_memory"):
        kwargs["max_memory"] = source.options["max_memory"]
    if quantize:
        kwargs["quantization_config"] = quantization_config(quantize, device, dtype)
        device_map = device_map or str(device)          # quantizers place weights while loading
    if device_map:
        kwargs["device_map"] = device_map
    model = AutoModelForCausalLM.from_pretrained(source.source, **kwargs)
    if not device_map:
        model = model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(source.source, trust_remote_code=source.trust_remote_code,
                                              revision=revision)
    first = model.get_input_embeddings().weight.device          # where input ids go when layers are spread
    return LanguageModel(model.eval(), tokenizer, first)
