"""Continuous-batching decode loop for an embedded transformers causal LM.

One worker thread owns the model. Requests queue up; whenever the loop has room it admits the waiting
ones (prefilled together in one forward), merges them into the running batch's KV cache (left-padded),
and every decode step is one forward over all running sequences. Finished or cancelled sequences leave
the batch at once. The event loop never runs model math: results cross back with
``call_soon_threadsafe`` into one ``asyncio.Queue`` per request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from gateway.backends.base import Delta, FinishReason, GenerationRequest
from gateway.backends.textstream import IncrementalText

log = logging.getLogger(__name__)


class EngineOverloaded(RuntimeError):
    """The engine's waiting queue is full."""


class EngineStopped(RuntimeError):
    """The engine is shut down or its worker died."""


class EngineFailure(RuntimeError):
    """A forward pass raised; the affected requests fail, the engine keeps serving."""


@dataclass
class EngineStats:
    """Counters the tests and metrics read: how much batching actually happened."""

    prefill_forwards: int = 0
    decode_forwards: int = 0
    sequences_admitted: int = 0
    max_batch_seen: int = 0


@dataclass
class _Job:
    request: GenerationRequest
    prompt_ids: list[int]
    emit: Callable[[Delta | BaseException], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    remaining: int = 0
    completion_tokens: int = 0


@dataclass
class _Sequence:
    job: _Job
    index: int
    generator: torch.Generator | None
    text: IncrementalText
    max_new: int
    generated: int = 0


class BatchEngine:
    """Owns a model and tokenizer; ``submit`` a request, receive deltas through its ``emit`` callback."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch_size: int = 8,
        batch_window_s: float = 0.01,
        max_waiting: int = 64,
        on_batch: Callable[[int], None] | None = None,
        on_prefill: Callable[[int], None] | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.batch_window_s = batch_window_s
        self.context_length = int(getattr(model.config, "max_position_embeddings", 2048))
        self.stats = EngineStats()
        self._on_batch = on_batch
        self._on_prefill = on_prefill
        self._waiting: queue.Queue[_Job] = queue.Queue(maxsize=max_waiting)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._eos_ids = _eos_ids(model, tokenizer)
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self._eos_ids)
        # Running batch state (worker thread only).
        self._seqs: list[_Sequence] = []
        self._cache: Any = None
        self._mask: torch.Tensor | None = None  # [B, T] over cache positions
        self._positions: torch.Tensor | None = None  # [B] next position id per row
        self._last: torch.Tensor | None = None  # [B] last sampled token per row

    # ------------------------------------------------------------------ public (any thread)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="keel-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    @property
    def waiting(self) -> int:
        return self._waiting.qsize()

    def encode(self, request: GenerationRequest) -> list[int]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    def submit(self, request: GenerationRequest, prompt_ids: list[int], emit: Callable[[Delta | BaseException], None]) -> _Job:
        """Queue a request; raises ``EngineOverloaded`` when the waiting queue is full."""
        if not self.alive:
            raise EngineStopped("the model engine is not running")
        job = _Job(request=request, prompt_ids=prompt_ids, emit=emit, remaining=request.n)
        try:
            self._waiting.put_nowait(job)
        except queue.Full:
            raise EngineOverloaded("too many requests are waiting for the model") from None
        return job

    # ------------------------------------------------------------------ worker thread

    def _run(self) -> None:
        torch.set_grad_enabled(False)
        while not self._stop.is_set():
            try:
                self._admit()
                if self._seqs:
                    self._decode_step()
            except Exception as exc:  # a failed forward fails its requests, never the engine
                log.exception("engine step failed")
                self._fail_running(EngineFailure(f"model error: {type(exc).__name__}: {exc}"))
        self._fail_running(EngineStopped("the model engine stopped"))
        while not self._waiting.empty():
            self._waiting.get_nowait().emit(EngineStopped("the model engine stopped"))

    def _admit(self) -> None:
        """Move waiting jobs into the running batch (blocking briefly when idle)."""
        room = self.max_batch_size - len(self._seqs)
        if room <= 0:
            return
        jobs: list[_Job] = []
        if not self._seqs:
            try:
                jobs.append(self._waiting.get(timeout=0.05))
            except queue.Empty:
                return
            # Requests arriving close together share the prefill forward.
            deadline = time.monotonic() + self.batch_window_s
            while sum(j.request.n for j in jobs) < room:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    jobs.append(self._waiting.get(timeout=left))
                except queue.Empty:
                    break
        else:
            while sum(j.request.n for j in jobs) < room:
                try:
                    jobs.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
        jobs = [j for j in jobs if not j.cancelled.is_set()]
        if jobs:
            try:
                self._prefill(jobs)
            except Exception as exc:
                # Jobs off the queue but not yet in the batch would otherwise wait for an answer forever.
                running = {id(s.job) for s in self._seqs}
                for job in jobs:
                    if id(job) not in running:
                        job.emit(EngineFailure(f"model error: {type(exc).__name__}: {exc}"))
                raise

    def _prefill(self, jobs: list[_Job]) -> None:
        new: list[_Sequence] = []
        rows: list[list[int]] = []
        for job in jobs:
            max_new = max(1, min(job.request.max_tokens, self.context_length - len(job.prompt_ids)))
            for i in range(job.request.n):
                gen = None
                if job.request.temperature > 0:
                    seed = (job.request.seed + i) % 2**64 if job.request.seed is not None else int.from_bytes(os.urandom(7), "big")
                    gen = torch.Generator().manual_seed(seed)
                new.append(_Sequence(job, i, gen, IncrementalText(self.tokenizer, job.request.stop), max_new))
                rows.append(job.prompt_ids)
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, width - len(row) :] = torch.tensor(row)
            mask[r, width - len(row) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        self.stats.prefill_forwards += 1
        self.stats.sequences_admitted += len(new)
        if self._on_prefill:
            self._on_prefill(len(new))
        first = self._sample(out.logits[:, -1, :], new)
        self._merge(new, out.cache, mask, mask.sum(-1), first)
        self._advance(first, start=len(self._seqs) - len(new))

    def _merge(self, new: list[_Sequence], cache: Any, mask: torch.Tensor, positions: torch.Tensor, last: torch.Tensor) -> None:
        if not self._seqs:
            self._seqs, self._cache, self._mask, self._positions, self._last = new, cache, mask, positions, last
            return
        assert self._mask is not None and self._positions is not None and self._last is not None
        old_t, new_t = self._mask.shape[1], mask.shape[1]
        width = max(old_t, new_t)
        for old_layer, new_layer in zip(self._cache.layers, cache.layers, strict=True):
            old_layer.keys = torch.cat([_pad_left(old_layer.keys, width - old_t), _pad_left(new_layer.keys, width - new_t)])
            old_layer.values = torch.cat(
                [_pad_left(old_layer.values, width - old_t), _pad_left(new_layer.values, width - new_t)]
            )
        self._mask = torch.cat([F.pad(self._mask, (width - old_t, 0)), F.pad(mask, (width - new_t, 0))])
        self._positions = torch.cat([self._positions, positions])
        self._last = torch.cat([self._last, last])
        self._seqs = self._seqs + new

    def _decode_step(self) -> None:
        assert self._mask is not None and self._positions is not None and self._last is not None
        self._mask = torch.cat([self._mask, torch.ones((len(self._seqs), 1), dtype=torch.long)], dim=1)
        out = self.model(
            input_ids=self._last[:, None],
            attention_mask=self._mask,
            position_ids=self._positions[:, None],
            cache=self._cache,
            use_cache=True,
        )
        self._cache = out.cache
        self._positions = self._positions + 1
        self.stats.decode_forwards += 1
        self.stats.max_batch_seen = max(self.stats.max_batch_seen, len(self._seqs))
        if self._on_batch:
            self._on_batch(len(self._seqs))
        self._last = self._sample(out.logits[:, -1, :], self._seqs)
        self._advance(self._last)

    def _sample(self, logits: torch.Tensor, seqs: list[_Sequence]) -> torch.Tensor:
        chosen = torch.empty(len(seqs), dtype=torch.long)
        for r, seq in enumerate(seqs):
            row = logits[r].float()
            req = seq.job.request
            if seq.generator is None:
                chosen[r] = int(row.argmax())
                continue
            probs = torch.softmax(row / req.temperature, dim=-1)
            if req.top_p < 1.0:
                sorted_probs, order = probs.sort(descending=True)
                keep = sorted_probs.cumsum(-1) - sorted_probs < req.top_p
                probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
            chosen[r] = int(torch.multinomial(probs, 1, generator=seq.generator))
        return chosen

    def _advance(self, tokens: torch.Tensor, start: int = 0) -> None:
        """Feed rows ``start:`` their new tokens; emit text; drop finished and cancelled rows from the batch."""
        keep: list[int] = []
        for r, seq in enumerate(self._seqs):
            job = seq.job
            if job.cancelled.is_set():
                continue
            if r < start:
                keep.append(r)
                continue
            token = int(tokens[r - start])
            seq.generated += 1
            job.completion_tokens += 1
            finish: FinishReason | None = None
            if token in self._eos_ids:
                text, finish = seq.text.finish(), "stop"
            else:
                text, hit_stop = seq.text.push(token)
                if hit_stop:
                    finish = "stop"
                elif seq.generated >= seq.max_new:
                    text, finish = text + seq.text.finish(), "length"
            if finish is None:
                if text:
                    job.emit(Delta(index=seq.index, text=text))
                keep.append(r)
                continue
            job.remaining -= 1
            last_of_job = job.remaining == 0
            job.emit(
                Delta(
                    index=seq.index,
                    text=text,
                    finish_reason=finish,
                    prompt_tokens=len(job.prompt_ids) if last_of_job else None,
                    completion_tokens=job.completion_tokens if last_of_job else None,
                )
            )
        if len(keep) != len(self._seqs):
            self._select(keep)

    def _select(self, keep: list[int]) -> None:
        if not keep:
            self._seqs, self._cache, self._mask, self._positions, self._last = [], None, None, None, None
            return
        assert self._mask is not None and self._positions is not None and self._last is not None
        index = torch.tensor(keep, dtype=torch.long)
        self._seqs = [self._seqs[i] for i in keep]
        self._mask = self._mask[index]
        self._positions = self._positions[index]
        self._last = self._last[index]
        # Drop leading columns that are padding for every remaining row.
        used = self._mask.any(dim=0).nonzero()
        cut = int(used[0]) if len(used) else 0
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, cut:, :]
            layer.values = layer.values[index, :, cut:, :]
        self._mask = self._mask[:, cut:]

    def _fail_running(self, error: BaseException) -> None:
        jobs = {id(s.job): s.job for s in self._seqs}
        for job in jobs.values():
            job.emit(error)
        self._seqs, self._cache, self._mask, self._positions, self._last = [], None, None, None, None


def _pad_left(t: torch.Tensor, n: int) -> torch.Tensor:
    return F.pad(t, (0, 0, n, 0)) if n else t


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (configured, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if not ids:
        raise ValueError("the tokenizer defines no end-of-sequence token")
    return ids


def deliver_to(loop: asyncio.AbstractEventLoop, sink: asyncio.Queue[Delta | BaseException]) -> Callable[[Delta | BaseException], None]:
    """An ``emit`` callback that hands items from the worker thread to an asyncio queue."""

    def emit(item: Delta | BaseException) -> None:
        try:
            loop.call_soon_threadsafe(sink.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    return emit
