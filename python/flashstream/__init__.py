"""flashstream: run language models whose weights do not fit in memory, streamed from disk.

    from flashstream import FlashConfig, FlashManager
    manager = FlashManager(FlashConfig(ram_budget_gb=2.0, kv_quant=8))
    model, tokenizer = manager.load("path/to/model.gguf")   # GGUF file, HF/MLX folder or hub id
    for piece in model.stream_generate("Tell me a story", max_tokens=100):
        print(piece, end="", flush=True)

Every option goes through the engine's one table of named options (the Modelfile's), so values
are checked, and errors worded, as everywhere else. Generation runs on an engine thread with the
GIL released; Ctrl-C, model.cancel() (from any thread) or leaving the loop stops it.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Iterator, Optional, Sequence, Union

from ._flashstream import Engine as _Engine
from ._flashstream import FlashstreamError

__all__ = ["FlashConfig", "FlashManager", "Model", "Tokenizer", "FlashstreamError"]

Messages = Sequence[dict]


@dataclasses.dataclass
class FlashConfig:
    """Engine options (None = the engine's default). Checked when a model is loaded."""

    ram_budget_gb: Optional[float] = None  # weight memory budget in GiB; None = automatic
    kv_quant: Optional[int] = None  # bits of K/V outside the FP16 window: 8, 4 or 0 (FP16 everywhere)
    kv_window: Optional[int] = None  # positions each query reads in FP16 (its most recent ones)
    kv_ram_gb: Optional[float] = None  # GiB of quantized K/V kept in RAM; the rest spills to disk
    vram_budget_gb: Optional[float] = None  # GPU weight budget in GiB (CUDA builds); None = free GPU memory
    device: Optional[str] = None  # "cpu", "cuda" or "cuda:N" (CUDA builds)
    bf16_activations: Optional[bool] = None  # GPU: bf16 tensor cores for prompts
    threads: Optional[int] = None  # compute threads; 0 = all cores
    context_length: Optional[int] = None  # tokens; 0 = the model's
    prefetch: Optional[int] = None  # staging slots when streaming
    io_depth: Optional[int] = None  # O_DIRECT requests in flight
    mmap: Optional[bool] = None  # page-cache baseline instead of streaming
    int8_activations: Optional[bool] = None  # faster quantized matmuls, ~1e-3 NMSE drift
    act: Optional[str] = None  # quantized-matmul activations: "exact", "int8x3" (near-exact), "int8x2", "int8"
    pacer: Optional[bool] = None  # token-bucket pacing of streaming reads
    draft_model: Optional[str] = None  # speculative decoding: a small model sharing the tokenizer
    self_draft: Optional[int] = None  # speculative decoding: 4- or 8-bit copy of the streamed layers
    self_draft_cache: Optional[str] = None  # folder caching that copy ("none" = off)
    kv_spill_dir: Optional[str] = None  # folder of the KV spill file
    expert_policy: Optional[str] = None  # MoE under a RAM budget: "lru", "lfu" or "decay"
    expert_lookahead: Optional[bool] = None  # MoE: predict and prefetch the next layer's experts
    expert_next_token: Optional[bool] = None  # MoE: ... and the next token's layer-0 experts

    _NAMES = {"ram_budget_gb": "ram", "kv_quant": "kv_quant", "kv_window": "kv_window", "vram_budget_gb": "vram",
              "device": "device", "threads": "num_thread", "context_length": "num_ctx", "prefetch": "prefetch",
              "io_depth": "io_depth", "mmap": "mmap", "int8_activations": "int8_act", "act": "act", "pacer": "pacer",
              "draft_model": "draft_model", "self_draft": "self_draft", "bf16_activations": "bf16_act",
              "kv_ram_gb": "kv_ram", "self_draft_cache": "self_draft_cache", "kv_spill_dir": "kv_spill_dir",
              "expert_policy": "expert_policy", "expert_lookahead": "expert_lookahead",
              "expert_next_token": "expert_next_token"}

    def named_options(self) -> dict:
        """The set fields as the engine's named options (text values)."""
        out = {}
        for field, name in self._NAMES.items():
            value = getattr(self, field)
            if value is not None:
                out[name] = _text(value)
        return out


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Keyword arguments of generate()/stream_generate() -> named generation options.
_SAMPLING = {"max_tokens": "num_predict", "temperature": "temperature", "top_k": "top_k", "top_p": "top_p",
             "min_p": "min_p", "repeat_penalty": "repeat_penalty", "repeat_last_n": "repeat_last_n",
             "seed": "seed", "ignore_eos": "ignore_eos", "lookup": "lookup", "draft_max": "draft_max"}


class Tokenizer:
    """The model's tokenizer and chat template. Thread-safe."""

    def __init__(self, engine: _Engine):
        self._engine = engine
        ids = engine.special_ids()
        self.bos_id, self.eos_id, self.vocab_size = ids["bos"], ids["eos"], ids["vocab_size"]

    def encode(self, text: str, add_special: bool = True, parse_special: bool = False) -> list:
        return self._engine.encode(text, add_special, parse_special)

    def decode(self, ids: Sequence[int]) -> str:
        return self._engine.decode(list(ids))

    def apply_chat_template(self, messages: Messages, add_generation_prompt: bool = True,
                            tokenize: bool = False) -> Union[str, list]:
        """Renders messages ([{"role": ..., "content": ...}]) with the model's chat template."""
        text = self._engine.render_chat([dict(m) for m in messages], add_generation_prompt)
        return self._engine.chat_tokens(text) if tokenize else text


class Model:
    """A loaded model and its conversation cache. One generation at a time (others wait)."""

    def __init__(self, engine: _Engine, tokenizer: Tokenizer):
        self._engine = engine
        self.tokenizer = tokenizer
        self.last_stats: Optional[dict] = None  # run statistics of the last finished generation

    @property
    def info(self) -> dict:
        """Architecture, context length, backend and the residency plan."""
        return self._engine.info()

    def stream_generate(self, prompt: Union[str, Messages], *, raw: bool = False, system: Optional[str] = None,
                        stop: Union[str, Sequence[str], None] = None, **sampling) -> Iterator[str]:
        """Yields the reply piece by piece (each piece is whole UTF-8 text).

        prompt: a user message (through the chat template, with an optional system message), a
        list of chat messages, or with raw=True plain text to continue. sampling: max_tokens,
        temperature (0 = greedy), top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed,
        ignore_eos, lookup and draft_max (speculative decoding). Leaving the loop early, cancel()
        or Ctrl-C stop the generation.
        """
        ids = self._prompt_ids(prompt, raw, system)
        options = {}
        for key, value in sampling.items():
            if key not in _SAMPLING:
                raise TypeError(f"unknown generation option '{key}' (expected one of {', '.join(_SAMPLING)})")
            if value is not None:
                options[_SAMPLING[key]] = _text(value)
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        stream = self._engine.stream(ids, options, stops)
        try:
            yield from stream
        finally:
            stream.close()
            stats = stream.stats_json()
            if stats:
                self.last_stats = json.loads(stats)

    def generate(self, prompt: Union[str, Messages], **kwargs) -> str:
        """The whole reply as one string (same arguments as stream_generate)."""
        return "".join(self.stream_generate(prompt, **kwargs))

    def chat(self, messages: Messages, **kwargs) -> str:
        """The assistant's reply to a conversation ([{"role": ..., "content": ...}, ...])."""
        return self.generate(list(messages), **kwargs)

    def cancel(self) -> None:
        """Stops the running generation after its current token (from any thread)."""
        self._engine.cancel()

    def reset(self) -> None:
        """Forgets the cached conversation."""
        self._engine.reset()

    def _prompt_ids(self, prompt, raw, system) -> list:
        if raw:
            if not isinstance(prompt, str):
                raise TypeError("raw=True takes a string prompt")
            return self.tokenizer.encode(prompt, add_special=True, parse_special=True)
        if isinstance(prompt, str):
            messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        else:
            messages = list(prompt)
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)


class FlashManager:
    """Loads models with one FlashConfig."""

    def __init__(self, config: Optional[FlashConfig] = None):
        self.config = config or FlashConfig()

    def load(self, model: str) -> tuple:
        """Loads a GGUF file, HF/MLX folder or hub id "org/name[:file]"; returns (Model, Tokenizer).

        Raises ValueError for a bad option and FlashstreamError when the model cannot be loaded.
        """
        options = self.config.named_options()
        options["model"] = str(model)
        engine = _Engine(options)
        tokenizer = Tokenizer(engine)
        return Model(engine, tokenizer), tokenizer
