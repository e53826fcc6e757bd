"""Embedded backend: a local HF causal LM behind the continuous-batching engine (CPU or GPU)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from gateway.backends.base import Completion, CompletionChoice, Delta, GenerationRequest
from gateway.backends.engine import BatchEngine, EngineFailure, EngineOverloaded, EngineStopped, deliver_to
from gateway.errors import BackendOverloaded, BackendUnavailable, ContextLengthExceeded
from telemetry import metrics

log = logging.getLogger(__name__)


@dataclass
class EngineOptions:
    """How the embedded engine batches and threads."""

    max_batch_size: int = 8  # sequences decoded together in one forward
    batch_window_ms: float = 10.0  # how long an idle engine waits for companions before prefill
    max_waiting: int = 64  # requests queued beyond this get a quick 503 instead of unbounded latency
    threads: int = 0  # torch intra-op threads; 0 keeps torch's default
    device: str = "cpu"
    dtype: str = "float32"


class TransformersBackend:
    """Serves a local HF model directory in-process."""

    name = "transformers"

    def __init__(self, model_dir: Path, options: EngineOptions | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.options = options or EngineOptions()
        self.engine: BatchEngine | None = None

    async def start(self) -> None:
        """Load the model off the event loop and start the engine thread."""
        self.engine = await asyncio.get_running_loop().run_in_executor(None, self._load)
        self.engine.start()

    def _load(self) -> BatchEngine:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        log.info("loading model from %s", self.model_dir)
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=getattr(torch, self.options.dtype))
        model.to(self.options.device).eval()
        return BatchEngine(
            model,
            tokenizer,
            max_batch_size=self.options.max_batch_size,
            batch_window_s=self.options.batch_window_ms / 1000,
            max_waiting=self.options.max_waiting,
            on_batch=metrics.ENGINE_BATCH_SIZE.labels(backend=self.name).observe,
            on_prefill=lambda n: metrics.ENGINE_PREFILLS.labels(backend=self.name).inc(),
        )

    async def aclose(self) -> None:
        if self.engine is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.engine.stop)

    @property
    def ready(self) -> bool:
        return self.engine is not None and self.engine.alive

    def count_prompt_tokens(self, request: GenerationRequest) -> int:
        return len(self._engine().encode(request))

    async def generate(self, request: GenerationRequest) -> Completion:
        texts = [""] * request.n
        finish: list[CompletionChoice | None] = [None] * request.n
        prompt_tokens = completion_tokens = 0
        async for delta in self.stream(request):
            texts[delta.index] += delta.text
            if delta.finish_reason is not None:
                finish[delta.index] = CompletionChoice(delta.index, texts[delta.index], delta.finish_reason)
            if delta.prompt_tokens is not None:
                prompt_tokens, completion_tokens = delta.prompt_tokens, delta.completion_tokens or 0
        choices = [c for c in finish if c is not None]
        return Completion(choices=choices, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        engine = self._engine()
        loop = asyncio.get_running_loop()
        prompt_ids = await loop.run_in_executor(None, engine.encode, request)
        room = engine.context_length - len(prompt_ids)
        if room <= 0:
            raise ContextLengthExceeded(
                f"the prompt has {len(prompt_ids)} tokens; this model's context is {engine.context_length}"
            )
        sink: asyncio.Queue[Delta | BaseException] = asyncio.Queue()
        try:
            job = engine.submit(request, prompt_ids, deliver_to(loop, sink))
        except EngineOverloaded as exc:
            raise BackendOverloaded(str(exc)) from exc
        except EngineStopped as exc:
            raise BackendUnavailable(str(exc)) from exc
        remaining = request.n
        try:
            while remaining:
                item = await sink.get()
                if isinstance(item, (EngineFailure, EngineStopped)):
                    metrics.BACKEND_ERRORS.labels(backend=self.name, kind=type(item).__name__).inc()
                    raise BackendUnavailable(str(item)) from item
                if isinstance(item, BaseException):
                    raise item
                if item.finish_reason is not None:
                    remaining -= 1
                yield item
        finally:
            # Client gone, consumer stopped early, or done: in every case the engine drops the rows.
            job.cancelled.set()

    def _engine(self) -> BatchEngine:
        if self.engine is None or not self.engine.alive:
            raise BackendUnavailable("the model is not loaded yet")
        return self.engine
