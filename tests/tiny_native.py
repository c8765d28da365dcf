"""Tiny random native multimodal checkpoints, made inside the tests from transformers' config classes (no network):
a Qwen3-Omni-MoE (thinker with vision and audio towers, talker and code-to-wave decoder) and a Qwen3-VL-MoE, each
saved with its processor (a byte-level BPE tokenizer trained here, a Qwen2-VL image processor, a Whisper feature
extractor) and a Qwen-style chat template beside it, as their hub checkpoints are laid out.

Not a test module. `build_omni(folder)` and `build_vl_moe(folder)` write a checkpoint folder and return what the
tests need to know of it.
"""
from __future__ import annotations

from pathlib import Path

from tests.tiny_checkpoints import _bpe

MEDIA_TOKENS = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>", "audio_token": "<|audio_pad|>",
                "vision_bos_token": "<|vision_start|>", "vision_eos_token": "<|vision_end|>",
                "audio_bos_token": "<|audio_start|>", "audio_eos_token": "<|audio_end|>"}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *MEDIA_TOKENS.values(),
            "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>", "system", "user", "assistant"]
VOICES = {"ethan": 1096, "chelsie": 1097}          # talker codec ids of the two voices
# A Qwen-style template: a picture's place is <|vision_start|><|image_pad|><|vision_end|>, a sound's
# <|audio_start|><|audio_pad|><|audio_end|>; the processor widens each pad to the media's own token count.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'audio' %}<|audio_start|><|audio_pad|><|audio_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
PATCH = 8                                           # vision patch side: a 48 x 32 picture is 6 x 4 patches
ROPE = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "mrope_interleaved": True}
TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            head_dim=16, moe_intermediate_size=16, num_experts=4, num_experts_per_tok=2, max_position_embeddings=1024,
            rope_parameters=ROPE)
VISION = dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=PATCH, spatial_merge_size=2,
              temporal_patch_size=2, out_hidden_size=32, num_position_embeddings=64, deepstack_visual_indexes=[0])


def tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=_bpe(SPECIALS, 400)._tokenizer, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", extra_special_tokens=MEDIA_TOKENS, model_max_length=1024)


def image_and_video_processors():
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    sizes = dict(patch_size=PATCH, merge_size=2, temporal_patch_size=2)
    return (Qwen2VLImageProcessor(**sizes, min_pixels=32 * 32, max_pixels=64 * 64),
            Qwen2VLVideoProcessor(**sizes, min_pixels=32 * 32, max_pixels=64 * 64))


def _silent_special_tokens(model, tok) -> None:
    """Special tokens score 0, below the best word: answers run to the token cap and always hold words."""
    import torch

    with torch.no_grad():
        model.get_output_embeddings().weight[tok.all_special_ids] = 0.0


def _initialise_talker_experts(talker, std: float) -> None:
    """transformers 5.24 leaves the talker's fused expert tensors as allocated (torch.empty): whatever the memory
    held, sometimes NaN or 1e23, which made the talker's sampling fail now and then. Draw them like every other
    weight."""
    import torch

    with torch.no_grad():
        for name, weight in talker.named_parameters():
            if ".mlp.experts." in name:
                weight.normal_(0.0, std)


def _audible_code2wav(code2wav, gain: float = 3000.0) -> None:
    """The random code-to-wave decoder's last convolution scaled up: its samples peak near 1e-4 as drawn, which a
    16-bit WAV holds as a few steps above silence; scaled, a spoken answer is plainly audible (it clamps at ±1)."""
    import torch

    last = code2wav.decoder[-1].conv
    with torch.no_grad():
        last.weight.mul_(gain)
        if last.bias is not None:
            last.bias.mul_(gain)


def build_omni(folder: Path, seed: int = 0) -> dict:
    """A Qwen3OmniMoeForConditionalGeneration (thinker 2 MoE layers of 4 experts, top-2; a talker of one MoE layer
    and a code-to-wave decoder) + Qwen3OmniMoeProcessor."""
    import torch
    from transformers import (Qwen3OmniMoeConfig, Qwen3OmniMoeForConditionalGeneration, Qwen3OmniMoeProcessor,
                              WhisperFeatureExtractor)

    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    media = dict(audio_token_id=tok.audio_token_id, image_token_id=tok.image_token_id,
                 video_token_id=tok.video_token_id, audio_start_token_id=ids("<|audio_start|>"),
                 vision_start_token_id=ids("<|vision_start|>"))
    thinker = dict(text_config=dict(vocab_size=len(tok), **TEXT), vision_config=VISION,
                   audio_config=dict(num_mel_bins=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=64,
                                     d_model=32, output_dim=32, downsample_hidden_size=8, max_source_positions=200),
                   user_token_id=ids("user"), **media)
    talker = dict(text_config=dict(**{**TEXT, "num_hidden_layers": 1}, vocab_size=1100,
                                   shared_expert_intermediate_size=32),
                  code_predictor_config=dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                             num_attention_heads=2, num_key_value_heads=1, head_dim=16,
                                             num_code_groups=4),
                  num_code_groups=4, thinker_hidden_size=32, accept_hidden_layer=1, codec_eos_token_id=1090,
                  codec_nothink_id=1091, codec_think_bos_id=1092, codec_think_eos_id=1093, codec_pad_id=1094,
                  codec_bos_id=1095, speaker_id=VOICES, spatial_merge_size=2, **media)
    code2wav = dict(codebook_size=128, hidden_size=32, num_attention_heads=2, num_key_value_heads=2,
                    intermediate_size=64, num_hidden_layers=1, num_quantizers=4, upsample_rates=(2, 2),
                    upsampling_ratios=(2,), decoder_dim=16, sliding_window=8)
    config = Qwen3OmniMoeConfig(
        thinker_config=thinker, talker_config=talker, code2wav_config=code2wav,
        im_start_token_id=ids("<|im_start|>"), im_end_token_id=ids("<|im_end|>"), tts_pad_token_id=ids("<tts_pad>"),
        tts_bos_token_id=ids("<tts_text_bos>"), tts_eos_token_id=ids("<tts_text_eod>"), system_token_id=ids("system"),
        user_token_id=ids("user"), assistant_token_id=ids("assistant"))
    torch.manual_seed(seed)
    model = Qwen3OmniMoeForConditionalGeneration(config).eval()
    _initialise_talker_experts(model.talker, config.talker_config.text_config.initializer_range)
    _audible_code2wav(model.code2wav)
    _silent_special_tokens(model.thinker, tok)
    model.save_pretrained(folder)
    images, videos = image_and_video_processors()
    Qwen3OmniMoeProcessor(image_processor=images, video_processor=videos, tokenizer=tok, chat_template=CHAT_TEMPLATE,
                          feature_extractor=WhisperFeatureExtractor(feature_size=16)).save_pretrained(folder)
    return {"experts": 4, "top_k": 2, "moe_layers": [0, 1], "voices": ["Ethan", "Chelsie"],
            "samples_per_code": 2 * 2 * 2}          # code2wav's upsample_rates × upsampling_ratios


def build_vl_moe(folder: Path, seed: int = 0) -> dict:
    """A Qwen3VLMoeForConditionalGeneration (2 MoE layers of 4 experts, top-2; a one-block vision tower) +
    Qwen3VLProcessor: pictures, no sounds."""
    import torch
    from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration, Qwen3VLProcessor

    tok = tokenizer()
    ids = tok.convert_tokens_to_ids
    config = Qwen3VLMoeConfig(text_config=dict(vocab_size=len(tok), **TEXT), vision_config=VISION,
                              image_token_id=tok.image_token_id, video_token_id=tok.video_token_id,
                              vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    torch.manual_seed(seed)
    model = Qwen3VLMoeForConditionalGeneration(config).eval()
    _silent_special_tokens(model, tok)
    model.save_pretrained(folder)
    images, videos = image_and_video_processors()
    Qwen3VLProcessor(image_processor=images, video_processor=videos, tokenizer=tok,
                     chat_template=CHAT_TEMPLATE).save_pretrained(folder)
    return {"experts": 4, "top_k": 2, "moe_layers": [0, 1], "voices": []}


BUILDERS = {"qwen3_omni_moe": build_omni, "qwen3_vl_moe": build_vl_moe}
