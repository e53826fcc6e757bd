"""The hazard guard: 14 Llama Guard 3 / MLCommons categories, logistic regression on MiniLM embeddings."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from dataclasses import dataclass, field

from guardrails.base import Action, Decision, GuardContext
from guardrails.embedding_cache import EmbeddingCache
from guardrails.training import ClassifierStore, sentences

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
    categories: dict[str, Action] = field(default_factory=dict)  # per-category action, e.g. {S6: escalate}
    name: str = "hazard"
    scope: str = "last_user"

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        if not subject.strip():
            return Decision("allow", self.name)
        model = await asyncio.get_running_loop().run_in_executor(self.executor, self.store.get, "hazard")
        # On output each sentence is scored too: a reply (or a streamed window) is judged by its worst sentence,
        # so a hazardous sentence between harmless ones cannot dilute its way through the hold-back buffer.
        units = [subject, *sentences(subject)] if ctx.stage == "output" else [subject]
        X = await self.embeddings.embed(units)
        scores = model.score(X)
        worst = int(scores.argmax())
        score = float(scores[worst])
        threshold = model.threshold if self.threshold is None else self.threshold
        label = model.top_positive(X[worst : worst + 1])[0]
        category = f"{label}_{CATEGORIES.get(label, label)}"
        action = self.categories.get(label, self.action)
        if score <= threshold or action == "allow":
            return Decision("allow", self.name, category=category if score > threshold else "", score=score)
        return Decision(action, self.name, category=category, score=score,
                        reason=f"hazard category {label} ({CATEGORIES.get(label, label)}), score {score:.2f}")
