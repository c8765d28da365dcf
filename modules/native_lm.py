"""A native multimodal language model: one checkpoint that reads text, pictures and sounds through its own processor
and chat template (Qwen3-Omni-MoE, Qwen3-VL-MoE, Gemma 4 MoE, any `AutoModelForMultimodalLM`), streams its answer
with its routed experts traced, and speaks the answer where the checkpoint has a talker (Qwen3-Omni), loading the
talker only then.

Profile: `language_model: {kind: native, source: Qwen/Qwen3-Omni-30B-A3B-Instruct}` (options: `revision`,
`speech_max_tokens`: the talker's codec tokens per answer at most; `speech_chunk_frames`: codec frames per streamed
piece of speech, 0 for the whole answer at once; `speech_left_context`). It has the same streaming interface as
modules.language_model.LanguageModel; pictures and sounds reach it as themselves in the user's turn
(modules.content_parts.native_parts), never as a caption, and no bridge or encoder role is used for them.
"""
from __future__ import annotations

import json
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from .contracts import GenerationSettings, InputError, SpeechPiece
from .interrupt import StopWhenSet
from .language_guard import GuardedLogits, LanguageKeeper
from .moe_trace import ExpertRecorder, experts_per_token, parameter_counts, routed_experts, text_config
from .reasoning import THINK_START
from .talker_stream import SpeechStreaming, spoken_pieces, talker_prompt, talker_sampling, thinker_kwargs
from .thinking import THOUGHT_NAMES, ThinkingControl, opens_thinking
from .thought_channels import markers_for, shown_reply
from .world.chat import latin_names_in_chinese_answers

TALKER_PREFIXES = ("talker.", "code2wav.")    # Qwen3-Omni's speaking parts, as its weights name them
SPEECH_RATE = 24_000                          # Qwen3-Omni's code2wav writes 24 kHz
SPEECH_MAX_TOKENS = 4096                      # codec tokens per spoken answer (12.5 a second: about 5 minutes)
_END = object()                               # the streamer's last item
_EXPERT_KEY = re.compile(r"^(.*\.experts)\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$")


@dataclass
class Speech:
    """A spoken answer."""

    samples: np.ndarray          # float32 mono (samples,)
    sample_rate: int
    voice: str


class TokenQueue:
    """generate()'s streamer: skips the prompt it is given first, then puts each new token id on a queue."""

    def __init__(self):
        self.items: queue.Queue = queue.Queue()
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():           # (1,) or (1, 1) per step
            self.items.put(int(token))

    def end(self) -> None:
        self.items.put(_END)


def local_folder(source: str, revision: str | None) -> str:
    """A folder as it is; a hub id -> the snapshot of `revision` holding what the loader reads (the cache offline)."""
    if Path(source).is_dir():
        return source
    from .offline import hub_folder

    return hub_folder(source, "language_model", revision)


def weight_files(folder: Path) -> list[Path]:
    """The checkpoint's safetensors files: every shard an index names, else the single file."""
    for index in sorted(folder.glob("*.safetensors.index.json")):
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        return [folder / shard for shard in shards]
    return sorted(folder.glob("*.safetensors"))


def fused_experts(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints keep each routed expert apart (`….experts.3.gate_proj.weight`, (inter, hidden)); transformers 5
    holds a layer's experts fused: `….experts.gate_up_proj` (experts, 2 × inter, hidden), gate rows before up
    rows, and `….experts.down_proj` (experts, hidden, inter). Anything else passes as it is."""
    fused: dict[str, torch.Tensor] = {}
    layers: dict[str, dict[int, dict[str, torch.Tensor]]] = {}
    for key, tensor in weights.items():
        match = _EXPERT_KEY.match(key)
        if match is None:
            fused[key] = tensor
            continue
        block, number, projection = match.groups()
        layers.setdefault(block, {}).setdefault(int(number), {})[projection] = tensor
    for block, experts in layers.items():
        order = sorted(experts)
        fused[f"{block}.gate_up_proj"] = torch.stack([torch.cat([experts[e]["gate_proj"], experts[e]["up_proj"]])
                                                      for e in order])          # (experts, 2 × inter, hidden)
        fused[f"{block}.down_proj"] = torch.stack([experts[e]["down_proj"] for e in order])  # (experts, hidden, inter)
    return fused


def talker_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the talker and its code-to-wave decoder, read from the shards that hold them, experts fused
    as the modules hold them."""
    from safetensors import safe_open

    weights = {}
    for path in weight_files(folder):
        with safe_open(str(path), framework="pt") as file:
            for key in file.keys():
                if key.startswith(TALKER_PREFIXES):
                    weights[key] = file.get_tensor(key)
    return fused_experts(weights)


class NativeLanguageModel:
    """Reads pictures and sounds itself: `accepts_content_part(kind)` says which, `stream` takes them in the turn."""

    reads_media_itself = True
    thinking = ThinkingControl()               # how the Think switch asks it to think; set when loaded

    def __init__(self, model, processor, device: torch.device, dtype: torch.dtype, folder: str | None = None,
                 speech_max_tokens: int = SPEECH_MAX_TOKENS, streaming: SpeechStreaming = SpeechStreaming()):
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype
        self.tokenizer = processor.tokenizer
        self.keeper = LanguageKeeper(self.tokenizer, latin_names_in_chinese_answers())
        self.thought_markers = markers_for(getattr(model.config, "model_type", None), self.tokenizer)   # Gemma 4's
        self.folder = Path(folder) if folder else None
        self.speech_max_tokens, self.streaming = speech_max_tokens, streaming
        self.text_model = getattr(model, "thinker", model)       # Qwen3-Omni writes with its thinker
        self.recorder = ExpertRecorder(self.text_model)
        self.moe_layers = sorted(self.recorder.gates)
        self.num_experts = self.recorder.experts_count or routed_experts(model.config)
        self.modalities = self._modalities()
        self.lock = threading.Lock()                               # one generation at a time
        self._talker_lock = threading.Lock()

    @classmethod
    def load(cls, source: str, device: torch.device, dtype: torch.dtype, revision: str | None = None,
             trust_remote_code: bool = False, speech_max_tokens: int = SPEECH_MAX_TOKENS,
             streaming: SpeechStreaming = SpeechStreaming()) -> "NativeLanguageModel":
        """The checkpoint's own class (AutoModelForMultimodalLM) and processor (AutoProcessor), at `revision`;
        a talker is left unloaded (enable_audio_output off) until an answer is to be spoken."""
        from transformers import AutoConfig, AutoModelForMultimodalLM, AutoProcessor

        folder = local_folder(source, revision)
        config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
        if getattr(config, "enable_audio_output", False):
            config.enable_audio_output = False                     # the talker is not built, its weights not read
        model = AutoModelForMultimodalLM.from_pretrained(folder, config=config, dtype=dtype, use_safetensors=True,
                                                         trust_remote_code=trust_remote_code)
        processor = AutoProcessor.from_pretrained(folder, trust_remote_code=trust_remote_code)
        return cls(model.to(device).eval(), processor, device, dtype, folder, speech_max_tokens, streaming)

    # ---- what it takes and what it is ------------------------------------------------------------------------

    def _modalities(self) -> frozenset[str]:
        """The media this checkpoint reads: a picture with an image processor and a vision tower, a sound with a
        feature extractor and an audio tower."""
        config = getattr(self.model.config, "thinker_config", self.model.config)
        kinds = {"text"}
        if getattr(self.processor, "image_processor", None) is not None and getattr(config, "vision_config", None):
            kinds.add("image")
        if getattr(self.processor, "feature_extractor", None) is not None and getattr(config, "audio_config", None):
            kinds.add("audio")
        return frozenset(kinds)

    def accepts_content_part(self, kind: str) -> bool:
        return kind in self.modalities

    def supports_media(self, kind: str) -> bool:
        """No prefix embeddings: pictures and sounds go in as themselves (accepts_content_part)."""
        return False

    @property
    def context_length(self) -> int:
        return int(getattr(text_config(self.model.config), "max_position_embeddings", 4096))

    def parameter_counts(self) -> tuple[int, int]:
        """(total, active per token) of what is loaded: the talker counts once it is loaded."""
        k = self.recorder.top_k or experts_per_token(self.model.config)
        return parameter_counts(self.model, self.recorder, self.num_experts, k)

    # ---- speaking --------------------------------------------------------------------------------------------

    def voices(self) -> list[str]:
        """The voices the checkpoint's talker speaks in (its config's talker_config.speaker_id); [] without a talker."""
        talker = getattr(self.model.config, "talker_config", None)
        if talker is None or not getattr(talker, "speaker_id", None) or not self._has_talker_weights():
            return []
        return [name.capitalize() for name in talker.speaker_id]

    def _has_talker_weights(self) -> bool:
        if self.folder is None:
            return bool(getattr(self.model, "has_talker", False))
        from safetensors import safe_open

        for path in weight_files(self.folder):
            with safe_open(str(path), framework="pt") as file:
                if any(key.startswith(TALKER_PREFIXES) for key in file.keys()):
                    return True
        return False

    @property
    def talker_loaded(self) -> bool:
        return bool(getattr(self.model, "has_talker", False))

    def load_talker(self) -> None:
        """Build the talker and its decoder and read their weights from the checkpoint (once, on first use)."""
        with self._talker_lock:
            if self.talker_loaded:
                return
            weights = talker_weights(self.folder)
            self.model.config.enable_audio_output = True
            # transformers 5.24's talker reads audio_config.n_window for a sound in the prompt but its config has
            # none: it is the thinker's audio tower setting
            self.model.config.talker_config.audio_config = self.model.config.thinker_config.audio_config
            self.model.enable_talker()
            missing, unexpected = self.model.load_state_dict(weights, strict=False)
            absent = [key for key in missing if key.startswith(TALKER_PREFIXES)]
            if absent or unexpected:
                raise ValueError(f"the checkpoint's talker does not match its config: {len(absent)} tensors missing "
                                 f"({', '.join(absent[:2])}), {len(unexpected)} unknown ({', '.join(unexpected[:2])})")
            self.model.talker.to(self.device, self.dtype).eval()
            self.model.code2wav.to(self.device, self.dtype).eval()
            self.model.has_talker = True

    def check_voice(self, voice: str | None) -> str:
        """The voice to speak in (the first one when None); InputError naming the valid ones otherwise."""
        voices = self.voices()
        if not voices:
            raise InputError("This model cannot speak its answers (its checkpoint has no talker).")
        if voice is None or voice == "":
            return voices[0]
        match = next((v for v in voices if v.lower() == str(voice).strip().lower()), None)
        if match is None:
            raise InputError(f"voice {voice!r} is not one this model speaks in; valid choices: {', '.join(voices)}")
        return match

    # ---- prompts ---------------------------------------------------------------------------------------------

    def prompt_text(self, messages: list[dict], thinking: bool = False) -> str:
        """The processor's chat template, asking the model to think or not as its ThinkingControl says."""
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                  **self.thinking.template_kwargs(thinking))
        return self.thinking.prompt(text, thinking)

    def inputs(self, messages: list[dict], thinking: bool = False) -> dict[str, Any]:
        """The processor's tensors for the conversation: the prompt with each picture and sound expanded to its
        tokens (input_ids (1, T)), pixel values and grids, sound features."""
        pictures, sounds = [], []
        for message in messages:
            for part in message["content"] if isinstance(message.get("content"), list) else []:
                if part.get("type") == "image":
                    pictures.append(part["image"])
                elif part.get("type") == "audio":
                    sounds.append(part["audio"])
        media: dict[str, Any] = {}
        if pictures:
            media["images"] = pictures
        if sounds:
            media["audio"] = sounds
        return self.processor(text=[self.prompt_text(messages, thinking)], return_tensors="pt", **media)

    def count_tokens(self, messages: list[dict], thinking: bool = False) -> int:
        """Tokens of the prompt the model reads for these messages, thinking on or off, pictures and sounds
        expanded."""
        return int(self.inputs(messages, thinking)["input_ids"].shape[1])

    def media_tokens(self, input_ids: torch.Tensor) -> dict[str, int]:
        """How many prompt tokens stand for pictures and for sounds (input_ids (1, T))."""
        counts = {}
        for kind, name in (("image", "image_token_id"), ("audio", "audio_token_id")):
            token = getattr(self.processor, name, None)
            if token is not None:
                counts[kind] = int((input_ids == token).sum())
        return {kind: n for kind, n in counts.items() if n}

    # ---- generating ------------------------------------------------------------------------------------------

    def _eos_ids(self) -> list[int]:
        eos = (self.text_model.generation_config.eos_token_id or self.model.generation_config.eos_token_id
               or self.tokenizer.eos_token_id)
        return list(eos) if isinstance(eos, (list, tuple)) else [eos]

    def _sampling(self, settings: GenerationSettings) -> dict[str, Any]:
        if settings.temperature <= 0:
            return {"do_sample": False}
        return {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p, "top_k": 0}

    @torch.inference_mode()
    def stream(self, messages: list[dict], settings: GenerationSettings, stats, prefix_kind: str | None = None,
               prefix=None, stop: threading.Event | None = None) -> Iterator[str | SpeechPiece]:
        """Yields the whole answer so far after each token, then (settings.speak) the spoken answer's pieces as the
        talker makes them; fills `stats` (stats.speech: the pieces joined). A prompt that opens <think> makes the
        words thoughts: yielded after <think>."""
        if prefix is not None:
            raise ValueError("a native multimodal model takes no prefix embeddings; give the media in the turn")
        voice = self.check_voice(settings.voice) if settings.speak else None
        if voice is not None:
            self.load_talker()
        inputs = self.inputs(messages, settings.thinking).to(self.device)
        opened = THINK_START if opens_thinking(self.prompt_text(messages, settings.thinking)) else ""
        stats.prompt_tokens = int(inputs["input_ids"].shape[1])
        stats.media_tokens = self.media_tokens(inputs["input_ids"])
        guard = self._guard(messages, settings, int(inputs["input_ids"].shape[1]))
        with self.lock, self.recorder:
            self.recorder.clear()
            for item in self._decode(inputs, settings, stats, stop, voice, guard):
                yield opened + item if isinstance(item, str) else item

    def _guard(self, messages: list[dict], settings: GenerationSettings, prompt_length: int) -> GuardedLogits | None:
        """The logits processor that keeps the answer in the question's language (settings.keep_language)."""
        extra = THOUGHT_NAMES if settings.thinking else frozenset()
        keeper = self.keeper.for_messages(messages, extra) if settings.keep_language else None
        if keeper is None:
            return None
        language, guard = keeper
        return GuardedLogits(language, guard, self.keeper.pieces, prompt_length)

    def _generate_kwargs(self, inputs, settings: GenerationSettings, streamer: TokenQueue,
                         stop: threading.Event | None, voice: str | None,
                         guard: GuardedLogits | None = None) -> tuple[Any, dict]:
        """(the generate to call, its arguments): the thinker alone for text and for streamed speech (the talker
        follows: _speak_in_pieces), the whole model for speech at once."""
        from transformers import LogitsProcessorList, StoppingCriteriaList

        text = {"max_new_tokens": settings.max_new_tokens, "eos_token_id": self._eos_ids(), "streamer": streamer,
                "stopping_criteria": StoppingCriteriaList([StopWhenSet(stop)]),
                "pad_token_id": self.tokenizer.pad_token_id, **self._sampling(settings)}
        if guard is not None:
            text["logits_processor"] = LogitsProcessorList([guard])
        if voice is None:
            return self.text_model.generate, {**inputs, **text}
        if self.streaming.chunk_frames:
            return self.text_model.generate, thinker_kwargs(dict(inputs), text)
        spoken = {f"thinker_{key}": value for key, value in text.items()}
        return self.model.generate, {**inputs, **spoken, "return_audio": True, "speaker": voice.lower(),
                                     "talker_max_new_tokens": self.speech_max_tokens,
                                     "talker_stopping_criteria": StoppingCriteriaList([StopWhenSet(stop)])}

    def _decode(self, inputs, settings: GenerationSettings, stats, stop, voice: str | None,
                guard: GuardedLogits | None = None) -> Iterator[str | SpeechPiece]:
        started = time.perf_counter()
        streamer = TokenQueue()
        generate, kwargs = self._generate_kwargs(inputs, settings, streamer, stop, voice, guard)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                if settings.seed is not None:
                    torch.manual_seed(int(settings.seed))
                result["output"] = generate(**kwargs)
            except Exception as error:                         # raised again in the caller's thread
                result["error"] = error
                streamer.end()

        worker = threading.Thread(target=run, name="native-generate", daemon=True)
        worker.start()
        eos = set(self._eos_ids())
        answer: list[int] = []
        first_at, text, shown = None, "", ""
        while (token := streamer.items.get()) is not _END:
            if token in eos:
                continue
            answer.append(token)
            stats.tokens.append(self.tokenizer.decode([token]))
            first_at = first_at or time.perf_counter()
            text = shown_reply(self.tokenizer, answer, self.thought_markers)
            if not text.endswith("\ufffd"):
                yield text
                shown = text
        worker.join()
        if "error" in result and not self._stopped_while_speaking_whole(stop, voice):
            raise result["error"]
        if text != shown:
            yield text
        stats.experts = self._experts_per_token(len(answer))
        ended = time.perf_counter()
        stats.answer_tokens = len(answer)
        stats.ttft_s = (first_at or ended) - started
        stats.ms_per_token = 1000 * (ended - (first_at or ended)) / max(1, len(answer) - 1)
        if voice is not None and self.streaming.chunk_frames:
            yield from self._speak_in_pieces(result["output"], inputs, voice, stats, stop)
        elif voice is not None:
            stats.speech = self._speech(result.get("output"), voice)
            if stats.speech is not None:
                yield SpeechPiece(stats.speech.samples, SPEECH_RATE, voice, 0)
        stats.stopped = stop is not None and stop.is_set()       # a Stop while speaking stops the answer too

    def _stopped_while_speaking_whole(self, stop: threading.Event | None, voice: str | None) -> bool:
        """Whether generate(return_audio=True) was stopped: a talker stopped before its second step made no codec
        frames, and the model's generate then fails stacking none; the stopped answer is simply not spoken."""
        return voice is not None and not self.streaming.chunk_frames and stop is not None and stop.is_set()

    def _speak_in_pieces(self, thinker_result, inputs, voice: str, stats,
                         stop: threading.Event | None) -> Iterator[SpeechPiece]:
        """The talker after the thinker (modules.talker_stream): a piece each speech_chunk_frames codec frames;
        stats.speech is them joined. A consumer that leaves early, or `stop` (Stop, the deadline), ends the talker
        at its next step."""
        speaker = self.model.config.talker_config.speaker_id[voice.lower()]
        prompt = talker_prompt(self.model, dict(inputs), thinker_result, speaker, self._eos_ids())
        pieces: list[np.ndarray] = []
        for samples in spoken_pieces(self.model, prompt, talker_sampling(self.model, self.speech_max_tokens),
                                     self.streaming, stop):
            pieces.append(samples)
            yield SpeechPiece(samples, SPEECH_RATE, voice, len(pieces) - 1)
        joined = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
        stats.speech = Speech(joined, SPEECH_RATE, voice) if joined.size else None

    def _experts_per_token(self, count: int) -> list[list[list[int]]]:
        """[token][moe layer] -> expert ids: forward call j of generate (0: the prompt) chose token j; the experts
        are those of its last position."""
        return [[self.recorder.calls[layer][j][-1].tolist() if j < len(self.recorder.calls[layer]) else []
                 for layer in self.moe_layers] for j in range(count)]

    @staticmethod
    def _speech(output, voice: str) -> Speech | None:
        """Qwen3-Omni's generate(return_audio=True) gives (sequences, waveform (1, 1, samples))."""
        if not isinstance(output, tuple) or len(output) < 2 or output[1] is None:
            return None
        samples = output[1].reshape(-1).float().cpu().numpy().astype(np.float32)
        return Speech(samples, SPEECH_RATE, voice) if samples.size else None
