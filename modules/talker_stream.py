"""Qwen3-Omni's talker run as a stream: after the thinker has written its answer, the talker's codec frames are
turned into 24 kHz waveform every `chunk_frames` frames, each piece decoded with the frames before it as left
context so that the pieces join into the waveform one whole decode gives, and handed out as they are made.

The talker's prompt is built as transformers' own `Qwen3OmniMoeForConditionalGeneration.generate(return_audio=True)`
builds it (modules.native_lm keeps that path: `speech_chunk_frames: 0`); the two private helpers it needs are reached
in one place, `_talker_parts`, which names the transformers version when they are missing.
"""
from __future__ import annotations

import inspect
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .interrupt import StopWhenSet

TRANSFORMERS_TESTED = "5.24"                   # the transformers whose private talker helpers this follows
_PRIVATE_HELPERS = ("_get_talker_user_parts", "_get_talker_assistant_parts")
_END = object()                                # the frame queue's last item


@dataclass(frozen=True)
class SpeechStreaming:
    """How a spoken answer is cut into pieces as the talker makes it."""

    chunk_frames: int = 12       # codec frames per piece (12.5 a second: about 1 s of speech); 0 = one whole answer
    left_context: int = 25       # frames decoded again before each piece, as code2wav.chunked_decode and vLLM-Omni do


def speech_streaming(options: dict) -> SpeechStreaming:
    """The profile's speech_chunk_frames and speech_left_context (checked by modules.config), defaults otherwise."""
    default = SpeechStreaming()
    return SpeechStreaming(int(options.get("speech_chunk_frames", default.chunk_frames)),
                           int(options.get("speech_left_context", default.left_context)))


# ---- the talker's prompt ------------------------------------------------------------------------------------

def _talker_parts(model) -> tuple[Any, Any]:
    """transformers' private (user parts, assistant parts) builders of the talker's prompt; RuntimeError naming
    the installed and the tested transformers when this version has them no longer."""
    import transformers

    missing = [name for name in _PRIVATE_HELPERS if not callable(getattr(model, name, None))]
    if missing:
        raise RuntimeError(f"streamed speech needs {', '.join(missing)} of {type(model).__name__}, which transformers "
                           f"{transformers.__version__} does not have (written against {TRANSFORMERS_TESTED}); set "
                           "speech_chunk_frames: 0 under language_model to speak whole answers instead")
    return getattr(model, _PRIVATE_HELPERS[0]), getattr(model, _PRIVATE_HELPERS[1])


def thinker_kwargs(inputs: dict, text: dict) -> dict:
    """thinker.generate's arguments as generate(return_audio=True) gives them: the prompt's tensors, the text
    settings, and every layer's hidden states (the talker reads them)."""
    return {**inputs, **text, "use_audio_in_video": False, "output_hidden_states": True,
            "return_dict_in_generate": True}


def talker_sampling(model, max_new_tokens: int) -> dict:
    """talker.generate's sampling, as generate(return_audio=True) sets it: its own defaults (talker_top_k …, read
    from its signature), the codec's end token, the codec's special tokens suppressed."""
    talker = model.config.talker_config
    defaults = {name[len("talker_"):]: p.default for name, p in inspect.signature(model.generate).parameters.items()
                if name.startswith("talker_") and p.default is not inspect.Parameter.empty}
    vocab = talker.text_config.vocab_size
    return {**defaults, "max_new_tokens": max_new_tokens, "eos_token_id": talker.codec_eos_token_id,
            "suppress_tokens": [i for i in range(vocab - 1024, vocab) if i != talker.codec_eos_token_id],
            "output_hidden_states": True, "return_dict_in_generate": True}


def _media_for_talker(inputs: dict) -> dict:
    """The prompt's media facts the talker's positions need (as generate passes them on)."""
    given = {key: inputs[key] for key in ("image_grid_thw", "video_grid_thw", "video_second_per_grid")
             if inputs.get(key) is not None}
    if inputs.get("feature_attention_mask") is not None:
        given["audio_feature_lengths"] = inputs["feature_attention_mask"].sum(dim=1)
    return given


def talker_prompt(model, inputs: dict, thinker_result, speaker_id: int, eos_ids: list[int]) -> dict:
    """talker.generate's prompt for one conversation, built as generate(return_audio=True) builds it: the user's
    turns from the thinker's hidden states, the assistant's opening with the speaker, and the answer's text as
    `trailing_text_hidden` (one entry a step, then the text's end)."""
    user_parts, assistant_parts = _talker_parts(model)
    config, input_ids = model.config, inputs["input_ids"]                    # (1, T)
    layers = thinker_result.hidden_states                                    # [step][layer] (1, t, hidden)
    thinker_embed = torch.cat([step[0] for step in layers], dim=1).to(input_ids.device)        # (1, T + n, d)
    thinker_hidden = torch.cat([step[config.talker_config.accept_hidden_layer] for step in layers],
                               dim=1).to(input_ids.device)                                     # (1, T + n, d)
    sequences = thinker_result.sequences                                                       # (1, T + n)
    media = ((sequences == config.thinker_config.audio_token_id) | (sequences == config.thinker_config.image_token_id)
             | (sequences == config.thinker_config.video_token_id)).to(input_ids.device)

    length = input_ids.shape[1]
    user = _user_positions(config, input_ids)                                                  # (u,)
    full_user = user_parts(0, length, media, thinker_hidden, thinker_embed)                   # (1, T, d_talker)
    user_embeds, user_ids = full_user[:, user], sequences[:, :length][:, user]                # (1, u, d), (1, u)

    opening = torch.nonzero((input_ids[0, :-1] == config.im_start_token_id)
                            & (input_ids[0, 1:] == config.assistant_token_id)).flatten()[-1].item()
    special = torch.tensor([[config.tts_bos_token_id, config.tts_eos_token_id, config.tts_pad_token_id]],
                           device=model.thinker.device, dtype=input_ids.dtype)
    bos, eos, pad = (model.talker.text_projection(model.thinker.get_input_embeddings()(special))
                     .to(input_ids.device).chunk(3, dim=1))                                   # 3 × (1, 1, d_talker)
    assistant_embeds, assistant_ids, trailing = assistant_parts(opening, sequences.shape[-1], speaker_id,
                                                                thinker_embed, pad, bos, eos)
    trailing = _text_ends_at_eos(trailing, sequences[:, length:], eos_ids, eos, pad)
    embeds = torch.cat((user_embeds, assistant_embeds), dim=1)                                # (1, u + a, d_talker)
    return {"inputs_embeds": embeds, "trailing_text_hidden": trailing, "tts_pad_embed": pad,
            "talker_input_ids": torch.cat((user_ids, assistant_ids), dim=1),
            "attention_mask": torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device),
            **_media_for_talker(inputs)}


def _user_positions(config, input_ids: torch.Tensor) -> torch.Tensor:
    """The prompt positions (in order) whose turn is the user's: the token after the last <|im_start|> at or
    before them is `user` (input_ids (1, T) -> (u,))."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    starts = torch.where(input_ids[0] == config.im_start_token_id, positions, -1)
    turn_start = torch.cummax(starts, dim=0).values.clamp_min(0)                              # (T,)
    role = input_ids[0, (turn_start + 1).clamp_max(input_ids.shape[1] - 1)]                    # (T,)
    return positions[role == config.user_token_id]


def _text_ends_at_eos(trailing: torch.Tensor, answer: torch.Tensor, eos_ids: list[int], eos: torch.Tensor,
                      pad: torch.Tensor) -> torch.Tensor:
    """The text's end marker just after the answer's last real token, padding after it (trailing (1, n, d);
    answer (1, n) ids): a thinker stopped before its end token still tells the talker where the text ends."""
    ends = (answer.unsqueeze(-1) == torch.as_tensor(eos_ids, device=answer.device)).any(-1)   # (1, n)
    first = int(torch.where(ends[0], torch.arange(answer.shape[1], device=answer.device), answer.shape[1]).min())
    positions = torch.arange(trailing.shape[1], device=trailing.device).view(1, -1, 1)
    trailing = torch.where(positions > first, pad.to(trailing.dtype), trailing)
    return torch.where(positions == first, eos.to(trailing.dtype), trailing)


# ---- frames to waveform --------------------------------------------------------------------------------------

class FrameTap:
    """A forward hook on the talker: each decoding step is given the previous step's codec frame (all code groups,
    `residual_codes` (1, groups)), which it puts on a queue."""

    def __init__(self, talker):
        self.frames: queue.Queue = queue.Queue()
        self._handle = talker.register_forward_pre_hook(self._saw, with_kwargs=True)

    def _saw(self, module, args, kwargs) -> None:
        codes = kwargs.get("residual_codes")
        if codes is not None:
            self.frames.put(codes[0].detach())                               # (groups,)

    def close(self) -> None:
        self._handle.remove()
        self.frames.put(_END)


def samples_per_frame(code2wav) -> int:
    config = code2wav.config
    return int(np.prod(list(config.upsample_rates) + list(config.upsampling_ratios)))


class PieceDecoder:
    """Codec frames in, new waveform out: each piece is code2wav of its frames with up to `left_context` frames
    before them, of which only the samples not yet given are kept. code2wav is causal, so a decode of frames
    [a, b) ends where a whole decode's sample b × per_frame − lost ends (lost: what its transposed convolutions
    trim at the end, the same for any length); keeping from the last piece's end makes the pieces join without a
    gap (transformers' chunked_decode cuts at a × per_frame and so drops `lost` samples at each seam)."""

    def __init__(self, code2wav, left_context: int):
        self.code2wav, self.left_context = code2wav, left_context
        self.per_frame = samples_per_frame(code2wav)
        self.frames: list[torch.Tensor] = []                                 # each (groups,)
        self.decoded_frames, self.given_samples = 0, 0

    def add(self, frame: torch.Tensor) -> None:
        self.frames.append(frame)

    @property
    def waiting(self) -> int:
        return len(self.frames) - self.decoded_frames

    @torch.inference_mode()
    def piece(self) -> np.ndarray:
        """The waveform of the frames added since the last piece, float32 (samples,)."""
        end = len(self.frames)
        start = max(0, self.decoded_frames - self.left_context)
        codes = torch.stack(self.frames[start:end], dim=1).unsqueeze(0)      # (1, groups, frames)
        wave = self.code2wav(codes).reshape(-1)                              # ((end - start) × per_frame − lost,)
        keep_from = self.given_samples - start * self.per_frame
        new = wave[keep_from:].float().cpu().numpy().astype(np.float32)
        self.decoded_frames, self.given_samples = end, start * self.per_frame + wave.shape[0]
        return new


# ---- the stream ----------------------------------------------------------------------------------------------

def spoken_pieces(model, prompt: dict, sampling: dict, streaming: SpeechStreaming,
                  stop: threading.Event | None = None) -> Iterator[np.ndarray]:
    """Runs the talker (a background thread) on `prompt` and yields the waveform as it is made, float32 (samples,):
    a piece each `streaming.chunk_frames` codec frames and the rest at the end. Leaving the loop early (a client
    gone) or `stop` (anything with is_set: Stop, the request's deadline) ends the talker at its next step."""
    from transformers import StoppingCriteriaList

    left = threading.Event()
    tap, decoder, failure = FrameTap(model.talker), PieceDecoder(model.code2wav, streaming.left_context), {}
    criteria = StoppingCriteriaList([StopWhenSet(left, stop)])

    def run() -> None:
        try:
            model.talker.generate(**prompt, **sampling, stopping_criteria=criteria)
        except Exception as error:                                          # raised again in the caller's thread
            failure["error"] = error
        finally:
            tap.close()

    worker = threading.Thread(target=run, name="talker-stream", daemon=True)
    worker.start()
    try:
        while (frame := tap.frames.get()) is not _END:
            decoder.add(frame)
            if decoder.waiting >= streaming.chunk_frames:
                yield decoder.piece()
        worker.join()
        if "error" in failure:
            raise failure["error"]
        if decoder.waiting:
            yield decoder.piece()
    finally:
        left.set()
        worker.join()
