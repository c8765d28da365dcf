"""Tiny random native multimodal checkpoints, made inside the tests from transformers' config classes (no network):
a Qwen3-Omni-MoE (thinker with vision and audio towers, talker and code-to-wave decoder), a Qwen3-VL-MoE and a
Gemma 4 MoE (vision and audio towers), each saved with its processor (a byte-level BPE tokenizer trained here and
the family's image processor and feature extractor) and a chat template in the family's style beside it, as their
hub checkpoints are laid out.

Not a test module. `build_omni(folder)`, `build_vl_moe(folder)` and `build_gemma4_moe(folder)` write a checkpoint
folder and return what the tests need to know of it (BUILDERS: model type -> builder).
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
# What a user sees of each template in the prompt: a turn's opening and end, a picture's and a sound's place.
QWEN_MARKS = {"user": "<|im_start|>user\n", "assistant": "<|im_start|>assistant\n", "end": "<|im_end|>",
              "image": "<|vision_start|><|image_pad|><|vision_end|>",
              "audio": "<|audio_start|><|audio_pad|><|audio_end|>"}
PATCH = 8                                           # vision patch side: a 48 x 32 picture is 6 x 4 patches
ROPE = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "mrope_interleaved": True}
TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
            head_dim=16, moe_intermediate_size=16, num_experts=4, num_experts_per_tok=2, max_position_embeddings=1024,
            rope_parameters=ROPE)
EXPERT_PARAMS = 3 * TEXT["moe_intermediate_size"] * TEXT["hidden_size"]   # one routed expert: gate, up, down
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
            "samples_per_code": 2 * 2 * 2,          # code2wav's upsample_rates × upsampling_ratios
            "expert_params": EXPERT_PARAMS, "hears": True, "marks": QWEN_MARKS,
            "picture_tokens": (48 // PATCH) * (32 // PATCH) // 4}      # 6 x 4 patches, merged 2 x 2


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
    return {"experts": 4, "top_k": 2, "moe_layers": [0, 1], "voices": [], "expert_params": EXPERT_PARAMS,
            "hears": False, "marks": QWEN_MARKS, "picture_tokens": (48 // PATCH) * (32 // PATCH) // 4}


# ---- Gemma 4 ----------------------------------------------------------------------------------------------------

GEMMA_MEDIA = {"image_token": "<|image|>", "boi_token": "<|image>", "eoi_token": "<image|>",
               "audio_token": "<|audio|>", "boa_token": "<|audio>", "eoa_token": "<audio|>"}
# "<|video|>" is there before Gemma4Processor adds it: added then, it would lie past the model's vocabulary
GEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", *GEMMA_MEDIA.values(), "<|video|>",
                  "<|think|>", "<|channel>", "<channel|>"]          # the last three: thinking asked for, thoughts
GEMMA_MARKS = {"user": "<|turn>user\n", "assistant": "<|turn>model\n", "end": "<turn|>", "image": "<|image|>",
               "audio": "<|audio|>"}
# A Gemma-style template: turns are <|turn>role ... <turn|>, the answer's role is `model`; a picture's place is
# <|image|>, a sound's <|audio|>, which the processor widens to <|image> + a token per soft token + <image|>.
# Asked to think (enable_thinking), it opens with a system turn holding <|think|>; the model then writes its
# thoughts as <|channel>thought\n … <channel|> before the answer.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if enable_thinking is defined and enable_thinking %}<|turn>system\n<|think|><turn|>\n"
    "{% endif %}{% for message in messages %}"
    "<|turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|image|>{% elif part['type'] == 'audio' %}<|audio|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<turn|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|turn>model\n{% endif %}")
GEMMA_MEL_BINS = 16                 # the audio tower's first convolution has as many channels as the mel bins
# Gemma4ImageProcessor resizes every picture up or down to its soft-token budget, whose least is 70: with 8-pixel
# patches pooled 2 x 2 (at most 280 patches), a 48 x 32 picture becomes 160 x 96 pixels, 20 x 12 patches, 60 tokens.
GEMMA_VISION = dict(patch_size=PATCH, pooling_kernel_size=2, max_soft_tokens=70)
GEMMA_PICTURE_TOKENS = 60


def gemma_tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=_bpe(GEMMA_SPECIALS, 400)._tokenizer, bos_token="<bos>",
                                   eos_token="<turn|>", pad_token="<pad>", unk_token="<unk>",
                                   extra_special_tokens=GEMMA_MEDIA, model_max_length=1024)


def gemma4_config(tok):
    """Gemma4Config: a text model of 2 layers, each with its dense MLP and an MoE block of 4 experts, top-2 (no
    per-layer inputs), a one-layer vision tower and a one-layer audio tower."""
    from transformers import Gemma4Config

    ids = tok.convert_tokens_to_ids
    sizes = {key: TEXT[key] for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                        "num_key_value_heads", "head_dim", "moe_intermediate_size", "num_experts",
                                        "max_position_embeddings")}
    text = dict(vocab_size=len(tok), **sizes, global_head_dim=TEXT["head_dim"], enable_moe_block=True,
                top_k_experts=TEXT["num_experts_per_tok"], sliding_window=16,
                layer_types=["sliding_attention", "full_attention"], hidden_size_per_layer_input=0,
                vocab_size_per_layer_input=len(tok), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                bos_token_id=tok.bos_token_id)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  num_key_value_heads=2, head_dim=16, patch_size=PATCH,
                  pooling_kernel_size=GEMMA_VISION["pooling_kernel_size"], position_embedding_size=64)
    audio = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, conv_kernel_size=3,
                 subsampling_conv_channels=[GEMMA_MEL_BINS, 4], output_proj_dims=32)
    return Gemma4Config(text_config=text, vision_config=vision, audio_config=audio,
                        image_token_id=tok.image_token_id, boi_token_id=ids("<|image>"), eoi_token_id=ids("<image|>"),
                        video_token_id=ids("<|video|>"), audio_token_id=tok.audio_token_id,
                        boa_token_id=ids("<|audio>"), eoa_token_index=ids("<audio|>"))


def build_gemma4_moe(folder: Path, seed: int = 0) -> dict:
    """A Gemma4ForConditionalGeneration (2 MoE layers of 4 experts, top-2, the decoder layer itself the MoE block;
    one-layer vision and audio towers) + Gemma4Processor: pictures and sounds."""
    import torch
    from transformers import (Gemma4AudioFeatureExtractor, Gemma4ForConditionalGeneration, Gemma4ImageProcessor,
                              Gemma4Processor, Gemma4VideoProcessor)

    tok = gemma_tokenizer()
    torch.manual_seed(seed)
    model = Gemma4ForConditionalGeneration(gemma4_config(tok)).eval()
    _silent_special_tokens(model, tok)
    model.save_pretrained(folder)
    Gemma4Processor(feature_extractor=Gemma4AudioFeatureExtractor(feature_size=GEMMA_MEL_BINS),
                    image_processor=Gemma4ImageProcessor(**GEMMA_VISION),
                    video_processor=Gemma4VideoProcessor(**GEMMA_VISION), tokenizer=tok,
                    chat_template=GEMMA_TEMPLATE,
                    image_seq_length=GEMMA_VISION["max_soft_tokens"]).save_pretrained(folder)
    return {"experts": 4, "top_k": 2, "moe_layers": [0, 1], "voices": [], "expert_params": EXPERT_PARAMS,
            "hears": True, "marks": GEMMA_MARKS, "picture_tokens": GEMMA_PICTURE_TOKENS}


BUILDERS = {"qwen3_omni_moe": build_omni, "qwen3_vl_moe": build_vl_moe, "gemma4": build_gemma4_moe}
