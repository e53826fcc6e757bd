"""The prompt-injection guard: the planted-instruction rules, then an n-gram + MiniLM cascade classifier.

The classifier scores the whole text and each of its sentences and keeps the highest score: an
instruction planted in one sentence of a long page is diluted in the page's average embedding.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field

from guardrails.base import Action, Decision, GuardContext
from guardrails.embedding_cache import EmbeddingCache
from guardrails.injection_rules import InjectionRules
from guardrails.training import ClassifierStore, units


@dataclass
class InjectionGuard:
    """Blocks text that matches an injection rule or that the classifier scores above its threshold."""

    store: ClassifierStore
    embeddings: EmbeddingCache
    executor: Executor | None = None
    threshold: float | None = None  # None: chosen on train by cross-validation
    action: Action = "block"
    screen: bool = True  # False: every text and sentence goes through MiniLM (slower; the n-gram screen is skipped)
    deep: bool = True  # False: no SmolLM2 stage (faster on borderline text, lower recall; its own threshold)
    rules: bool = True
    name: str = "injection"
    scope: str = "last_user"
    _rules: InjectionRules = field(default_factory=InjectionRules, repr=False)

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        if not subject.strip():
            return Decision("allow", self.name)
        hits = self._rules.matches(subject) if self.rules else []
        if hits and self.action != "allow":
            return Decision(self.action, self.name, category="prompt_injection", score=1.0,
                            reason=f"matches injection rules ({', '.join(hits)})")
        model, scored = await self.embeddings.classify(self.store, "injection", units(subject), self.screen, self.deep)
        threshold = model.threshold_for(self.deep) if self.threshold is None else self.threshold
        worst, flagged = scored.worst(threshold)
        score = float(scored.scores[worst])
        if not flagged or self.action == "allow":
            return Decision("allow", self.name, score=score)
        return Decision(self.action, self.name, category="prompt_injection", score=score,
                        reason=f"injection classifier score {score:.2f} over {threshold:.2f}")
