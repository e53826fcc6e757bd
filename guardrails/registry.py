"""Guards by name: a YAML stage entry ``{name: pii, ...options}`` becomes a guard through this registry.

A new guard is one module, one line in ``GUARDS`` and one entry in a policy file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardrails.base import Guard
from guardrails.config import GuardSpec
from guardrails.embedding_cache import EmbeddingCache
from guardrails.grounding import GroundingGuard
from guardrails.hazard import HazardGuard
from guardrails.injection import InjectionGuard
from guardrails.injection_rules import InjectionRules
from guardrails.limits import SizeGuard
from guardrails.pii import DEFAULT_ENTITIES, PHONE_REGIONS, PiiAnalyzer, PiiGuard
from guardrails.schema import ResponseFormatGuard
from guardrails.training import ClassifierStore


@dataclass
class Resources:
    """What guards share: the executor, the MiniLM embeddings, trained classifiers, Presidio engines."""

    home: Path
    executor: Executor = field(default_factory=lambda: ThreadPoolExecutor(4, thread_name_prefix="keel-guard"))
    embedding_threads: int = 1
    embedding_max_tokens: int = 128
    embeddings: EmbeddingCache = field(init=False)
    classifiers: ClassifierStore = field(init=False)
    _analyzers: dict[tuple[Any, ...], PiiAnalyzer] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.embeddings = EmbeddingCache(self.home, self.embedding_threads, self.embedding_max_tokens, executor=self.executor)
        self.classifiers = ClassifierStore(self.home, self.embeddings)

    def pii_analyzer(self, nlp: str, min_score: float, regions: tuple[str, ...]) -> PiiAnalyzer:
        key = (nlp, min_score, regions)
        with self._lock:
            if key not in self._analyzers:
                self._analyzers[key] = PiiAnalyzer(nlp, min_score, regions)  # type: ignore[arg-type]
            return self._analyzers[key]


def _pii(options: dict[str, Any], res: Resources) -> Guard:
    entities = dict(DEFAULT_ENTITIES) | dict(options.get("entities") or {})
    analyzer = res.pii_analyzer(options.get("nlp", "tokens"), float(options.get("min_score", 0.4)),
                                tuple(options.get("phone_regions") or PHONE_REGIONS))
    return PiiGuard(analyzer, entities, res.executor)


def _hazard(options: dict[str, Any], res: Resources) -> Guard:
    return HazardGuard(res.classifiers, res.embeddings, res.executor, threshold=options.get("threshold"),
                       action=options.get("action", "block"), categories=dict(options.get("categories") or {}),
                       screen=bool(options.get("screen", True)), deep=bool(options.get("deep", True)))


def _injection(options: dict[str, Any], res: Resources) -> Guard:
    return InjectionGuard(res.classifiers, res.embeddings, res.executor, threshold=options.get("threshold"),
                          action=options.get("action", "block"), rules=bool(options.get("rules", True)),
                          screen=bool(options.get("screen", True)), deep=bool(options.get("deep", True)))


def _injection_rules(options: dict[str, Any], res: Resources) -> Guard:
    guard = InjectionRules(action=options.get("action", "block"))
    guard.scope = "last_user"  # type: ignore[attr-defined]
    return guard


GUARDS: dict[str, Callable[[dict[str, Any], Resources], Guard]] = {
    "size": lambda o, r: SizeGuard(**o),
    "pii": _pii,
    "injection": _injection,
    "injection_rules": _injection_rules,
    "hazard": _hazard,
    "response_format": lambda o, r: ResponseFormatGuard(**o),
    # The grounding hook: on the output stage it checks citations against ctx.sources (set by RAG).
    "grounding": lambda o, r: GroundingGuard(**o),
}


def build_guard(spec: GuardSpec, resources: Resources) -> Guard:
    try:
        factory = GUARDS[spec.name]
    except KeyError:
        raise ValueError(f"unknown guard {spec.name!r}; registered: {', '.join(sorted(GUARDS))}") from None
    return factory(spec.options(), resources)
