"""The hazard guard: 14 Llama Guard 3 / MLCommons categories, n-gram + MiniLM cascade classifier."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field

from guardrails.base import Action, Decision, GuardContext
from guardrails.embedding_cache import EmbeddingCache
from guardrails.training import ClassifierStore, units

CATEGORIES = {
    "S1": "violent_crimes",
    "S2": "non_violent_crimes",
    "S3": "sex_related_crimes",
    "S4": "child_sexual_exploitation",
    "S5": "defamation",
    "S6": "specialized_advice",
    "S7": "privacy",
    "S8": "intellectual_property",
    "S9": "indiscriminate_weapons",
    "S10": "hate",
    "S11": "suicide_self_harm",
    "S12": "sexual_content",
    "S13": "elections",
    "S14": "code_interpreter_abuse",
}


@dataclass
class HazardGuard:
    """Blocks (or escalates, per category) text the classifier scores above its cross-validated threshold."""

    store: ClassifierStore
    embeddings: EmbeddingCache
    executor: Executor | None = None
    threshold: float | None = None  # None: the threshold chosen on train by cross-validation
    action: Action = "block"
    screen: bool = True  # False: every text and sentence goes through MiniLM (slower; the n-gram screen is skipped)
    deep: bool = True  # False: no SmolLM2 stage (faster on borderline text, lower recall; its own threshold)
    categories: dict[str, Action] = field(default_factory=dict)  # per-category action, e.g. {S6: escalate}
    name: str = "hazard"
    scope: str = "last_user"

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        if not subject.strip():
            return Decision("allow", self.name)
        # The text and each of its sentences are scored, and the worst counts: a hazardous sentence between
        # harmless ones cannot dilute its way through (a long message, or the hold-back buffer on output).
        # Sentences already embedded (the streamed context) come from the embedding cache.
        model, scored = await self.embeddings.classify(self.store, "hazard", units(subject), self.screen, self.deep)
        threshold = model.threshold_for(self.deep) if self.threshold is None else self.threshold
        worst, flagged = scored.worst(threshold)
        score = float(scored.scores[worst])
        label = scored.labels[worst]
        category = f"{label}_{CATEGORIES.get(label, label)}"
        action = self.categories.get(label, self.action)
        if not flagged or action == "allow":
            return Decision("allow", self.name, category=category if flagged else "", score=score)
        return Decision(action, self.name, category=category, score=score,
                        reason=f"hazard category {label} ({CATEGORIES.get(label, label)}), score {score:.2f}")
