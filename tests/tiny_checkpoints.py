"""Tiny random checkpoints in the formats real hub checkpoints use, made inside the tests (no network), and a
Hugging Face cache written by hand so that hub ids resolve offline exactly as downloaded ones do.

Not a test module. `tiny_suite(folder)` builds, once per folder:
    language_model/  DeepseekV3ForCausalLM + a byte-level BPE tokenizer with a DeepSeek-style chat template and
                     no <|image|>/<|audio|> markers (as a hub chat model: pictures reach it as words)
    image_encoder/   open_clip CoCa: open_clip_config.json + open_clip_pytorch_model.safetensors (LAION's layout)
    audio_encoder/   transformers ClapModel + ClapProcessor (ClapFeatureExtractor + RoBERTa BPE tokenizer)
    image_decoder/   diffusers StableDiffusionPipeline (UNet, VAE, CLIP text model, tokenizer, Euler scheduler)
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

ROLES_BUILT = ("language_model", "image_encoder", "audio_encoder", "image_decoder")
HUB_IDS = {"language_model": "tiny-org/DeepSeek-V3-tiny-chat", "image_encoder": "tiny-org/CoCa-tiny",
           "audio_encoder": "tiny-org/clap-tiny", "image_decoder": "tiny-org/sd-turbo-tiny"}
SOUND_LABELS = ["dog barking", "rain", "car engine", "speech", "music", "bird song", "siren", "applause"]
IMAGE_LABELS = ["dog", "cat", "red circle", "blue square", "tree", "car", "person", "house"]
CORPUS = [
    "hello, how are you today?", "the quick brown fox jumps over the lazy dog", "a picture of a red circle",
    "describe this sound, please", "a dog barking in the rain", "mixture of experts language model",
    "the sound of a car engine", "a blue square on white", "what do you see in the picture?",
    "music and speech and applause", "draw a tree next to a house", "caption: a person riding a bike",
] * 8
LM_SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜pad｜>"]
DEEPSEEK_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}<｜User｜>{{ message['content'] }}"
    "{% else %}<｜Assistant｜>{{ message['content'] }}<｜end▁of▁sentence｜>{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<｜Assistant｜>{% endif %}"
)


def tiny_deepseek_v3_config(vocab_size: int, *, layers: int, context: int, bos: int, eos: int, pad: int,
                            initializer_range: float = 0.02):
    """A DeepSeek-V3 of a few layers: hidden 64, MLA rank 16, 1 dense layer then MoE layers of 4 experts, top-2."""
    from transformers import DeepseekV3Config

    return DeepseekV3Config(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, moe_intermediate_size=32,
                            num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                            n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1,
                            first_k_dense_replace=1, kv_lora_rank=16, q_lora_rank=None, qk_rope_head_dim=8,
                            qk_nope_head_dim=8, v_head_dim=8, max_position_embeddings=context,
                            initializer_range=initializer_range, bos_token_id=bos, eos_token_id=eos,
                            pad_token_id=pad)


def write_media(folder: Path, colour: tuple[int, int, int], hertz: float, samples: int) -> dict[str, Path]:
    """A 48x32 picture of one colour and a 16 kHz sine tone of `samples` samples, as upload files."""
    import numpy as np
    import soundfile as sf
    from PIL import Image

    Image.new("RGB", (48, 32), colour).save(folder / "picture.png")
    tone = 0.3 * np.sin(2 * np.pi * hertz * np.arange(samples) / 16_000)
    sf.write(folder / "tone.wav", tone.astype(np.float32), 16_000)
    return {"picture": folder / "picture.png", "sound": folder / "tone.wav"}


def _bpe(specials: list[str], vocab_size: int = 400):
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=vocab_size, min_frequency=1, special_tokens=specials,
                            show_progress=False)
    return bpe


def build_language_model(folder: Path) -> None:
    import torch
    from transformers import DeepseekV3ForCausalLM, GenerationConfig, PreTrainedTokenizerFast

    bpe = _bpe(LM_SPECIALS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=LM_SPECIALS[0],
                                        eos_token=LM_SPECIALS[1], pad_token=LM_SPECIALS[4],
                                        additional_special_tokens=LM_SPECIALS[2:4], model_max_length=1024,
                                        chat_template=DEEPSEEK_TEMPLATE)
    ids = tokenizer.convert_tokens_to_ids
    config = tiny_deepseek_v3_config(len(tokenizer), layers=3, context=1024, bos=ids(LM_SPECIALS[0]),
                                     eos=ids(LM_SPECIALS[1]), pad=ids(LM_SPECIALS[4]),
                                     initializer_range=0.2)  # large enough that every word of the prompt moves the answer
    torch.manual_seed(0)
    model = DeepseekV3ForCausalLM(config).eval()
    with torch.no_grad():
        # no special token scores above 0, below the best word: answers run to the token cap (comparable lengths)
        # and always hold words, whatever the prompt (a turn written by the text bridge differs between machines)
        model.lm_head.weight[tokenizer.all_special_ids] = 0.0
    model.generation_config = GenerationConfig(bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


COCA_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16,
                   "attentional_pool": True, "attn_pooler_heads": 2, "attn_pooler_queries": 17, "output_tokens": True},
    "text_cfg": {"context_length": 76, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1, "embed_cls": True,
                 "output_tokens": True},
    "multimodal_cfg": {"context_length": 76, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1,
                       "attn_pooler_heads": 2},
    "custom_text": True,
}


def build_image_encoder(folder: Path) -> None:
    import torch
    from open_clip.coca_model import CoCa
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    preprocess = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": COCA_CONFIG, "preprocess_cfg": preprocess}))
    torch.manual_seed(1)
    model = CoCa(**{k: v for k, v in COCA_CONFIG.items() if k != "custom_text"})
    # open_clip leaves the caption decoder's text_projection as torch.empty (whatever the heap held: NaN or 1e38 on
    # some runs): nothing in CoCa initialises it (the decoder's own init_parameters fails on a missing attribute);
    # draw it with the scale open_clip gives the text tower's projection
    torch.nn.init.normal_(model.text_decoder.text_projection, std=model.text_decoder.width ** -0.5)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              folder / "open_clip_pytorch_model.safetensors")


def build_audio_encoder(folder: Path) -> None:
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = _bpe(specials, 300)
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:                     # vocab.json + merges.txt, RoBERTa's files
        bpe.save_model(scratch)
        vocab = json.loads(Path(scratch, "vocab.json").read_text(encoding="utf-8"))
        lines = Path(scratch, "merges.txt").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split(" ")) for line in lines if line and not line.startswith("#")]
    tokenizer = RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=64)
    config = ClapConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=37, max_position_embeddings=70, pad_token_id=1, bos_token_id=0,
                         eos_token_id=2),
        audio_config=dict(patch_embeds_hidden_size=16, depths=[1, 1, 1, 1], num_attention_heads=[1, 2, 4, 8],
                          hidden_size=128, projection_dim=32),
        projection_dim=32)
    torch.manual_seed(2)
    ClapModel(config).eval().save_pretrained(folder)
    ClapProcessor(feature_extractor=ClapFeatureExtractor(), tokenizer=tokenizer).save_pretrained(folder)


def build_image_decoder(folder: Path) -> None:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

    bpe = _bpe(["<|startoftext|>", "<|endoftext|>"], 300)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<|startoftext|>",
                                        eos_token="<|endoftext|>", pad_token="<|endoftext|>", model_max_length=16)
    torch.manual_seed(3)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(16, 32), latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=8, sample_size=16)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37,
                                                num_attention_heads=4, num_hidden_layers=1, max_position_embeddings=16,
                                                bos_token_id=0, eos_token_id=1, pad_token_id=1))
    scheduler = EulerDiscreteScheduler(timestep_spacing="trailing", steps_offset=1)        # sd-turbo's scheduler
    pipeline = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipeline.save_pretrained(folder, safe_serialization=True)


BUILDERS = {"language_model": build_language_model, "image_encoder": build_image_encoder,
            "audio_encoder": build_audio_encoder, "image_decoder": build_image_decoder}


def tiny_suite(folder: Path, roles=ROLES_BUILT) -> dict[str, Path]:
    """role -> folder of its tiny checkpoint under `folder` (built on first use, then reused)."""
    paths = {}
    for role in roles:
        path = folder / role
        if not (path / ".complete").is_file():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            BUILDERS[role](path)
            (path / ".complete").write_text("ok")
        paths[role] = path
    return paths


def labels_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "image_labels.txt").write_text("\n".join(IMAGE_LABELS) + "\n")
    (folder / "sound_labels.txt").write_text("# a few sound events\n" + "\n".join(SOUND_LABELS) + "\n")
    return {"image": folder / "image_labels.txt", "audio": folder / "sound_labels.txt"}


def put_in_hub_cache(source: Path, repo_id: str, cache: Path, skip: tuple[str, ...] = (), branch: str = "main") -> Path:
    """Write `source` into a Hugging Face cache as a branch of repo_id (blobs + snapshot symlinks + refs/<branch>),
    the layout huggingface_hub leaves after a download. Files named in `skip` are left out. Returns the snapshot."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(f"{repo_id}@{branch}".encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    for file in sorted(p for p in source.rglob("*") if p.is_file() and p.name != ".complete"):
        relative = file.relative_to(source)
        if str(relative) in skip:
            continue
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / branch).write_text(commit)
    return snapshot


def write_profiles(path: Path, profiles: dict, default: str | None = None) -> Path:
    import yaml

    doc = {"default_profile": default or next(iter(profiles)), "profiles": profiles}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


# Chat templates with a thinking control, as the families write them (cut to what the tests need): Qwen3 reads
# `enable_thinking` and writes an empty thought when it is false; DeepSeek-V3.1 reads `thinking` and opens the
# answer with <think> (thinking) or </think> (not).
QWEN3_THINKING_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}{%- set content = message['content'].split('</think>')[-1] %}"
    "{%- else %}{%- set content = message['content'] %}{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)
DEEPSEEK_V31_THINKING_TEMPLATE = (
    "{% if not thinking is defined %}{% set thinking = false %}{% endif %}{{ bos_token }}"
    "{% for message in messages %}{% if message['role'] == 'user' %}<｜User｜>{{ message['content'] }}"
    "{% else %}<｜Assistant｜></think>{{ message['content'] }}<｜end▁of▁sentence｜>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<｜Assistant｜>{% if thinking %}<think>{% else %}</think>{% endif %}{% endif %}"
)


def with_chat_template(source: Path, folder: Path, template: str) -> Path:
    """A copy of the checkpoint at `source` whose tokenizer carries `template` as its chat template."""
    if not (folder / ".complete").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns(".complete"))
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config.pop("chat_template", None)
        config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
        (folder / "chat_template.jinja").write_text(template, encoding="utf-8")
        (folder / ".complete").write_text("ok")
    return folder
