"""The prompt-injection guard: the planted-instruction rules, then a classifier on MiniLM embeddings.

The classifier scores the whole text and each of its sentences and keeps the highest score: an
instruction planted in one sentence of a long page is diluted in the page's average embedding.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass, field

from guardrails.base import Action, Decision, GuardContext
from guardrails.embedding_cache import EmbeddingCache
from guardrails.injection_rules import InjectionRules
from guardrails.training import ClassifierStore, sentences


@dataclass
class InjectionGuard:
    """Blocks text that matches an injection rule or that the classifier scores above its threshold."""

    store: ClassifierStore
    embeddings: EmbeddingCache
    executor: Executor | None = None
    threshold: float | None = None  # None: chosen on train by cross-validation
    action: Action = "block"
    rules: bool = True
    name: str = "injection"
    scope: str = "last_user"
    _rules: InjectionRules = field(default_factory=InjectionRules, repr=False)

    def score_units(self, text: str) -> list[str]:
        return [text, *sentences(text)]

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        if not subject.strip():
            return Decision("allow", self.name)
        hits = self._rules.matches(subject) if self.rules else []
        if hits and self.action != "allow":
            return Decision(self.action, self.name, category="prompt_injection", score=1.0,
                            reason=f"matches injection rules ({', '.join(hits)})")
        model = await asyncio.get_running_loop().run_in_executor(self.executor, self.store.get, "injection")
        score = float(model.score(await self.embeddings.embed(self.score_units(subject))).max())
        threshold = model.threshold if self.threshold is None else self.threshold
        if score <= threshold or self.action == "allow":
            return Decision("allow", self.name, score=score)
        return Decision(self.action, self.name, category="prompt_injection", score=score,
                        reason=f"injection classifier score {score:.2f} over {threshold:.2f}")
