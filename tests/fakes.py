"""Test doubles implementing Keel's seams (unit tests only; every real part has an integration test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from gateway.backends.base import Completion, CompletionChoice, Delta, GenerationRequest


class FakeBackend:
    """A ``ModelBackend`` that answers with fixed words, one word per delta; records what it was asked."""

    def __init__(self, words: list[str] | None = None, fail_with: BaseException | None = None, delay: float = 0.0):
        self.words = words or ["Hello", " from", " the", " fake", " model."]
        self.fail_with = fail_with
        self.delay = delay
        self.requests: list[GenerationRequest] = []
        self.cancelled = 0
        self.ready = True

    async def generate(self, request: GenerationRequest) -> Completion:
        self.requests.append(request)
        if self.fail_with:
            raise self.fail_with
        words = self.words[: request.max_tokens]
        choices = [CompletionChoice(i, "".join(words), "stop" if len(words) == len(self.words) else "length") for i in range(request.n)]
        return Completion(choices, prompt_tokens=7, completion_tokens=len(words) * request.n)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Delta]:
        self.requests.append(request)
        if self.fail_with:
            raise self.fail_with
        words = self.words[: request.max_tokens]
        try:
            for i in range(request.n):
                for j, word in enumerate(words):
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    last = j == len(words) - 1
                    final = last and i == request.n - 1
                    yield Delta(
                        index=i,
                        text=word,
                        finish_reason=("stop" if len(words) == len(self.words) else "length") if last else None,
                        prompt_tokens=7 if final else None,
                        completion_tokens=len(words) * request.n if final else None,
                    )
        except (GeneratorExit, asyncio.CancelledError):
            self.cancelled += 1
            raise
