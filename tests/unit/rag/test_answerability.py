"""The answerability model: features, the fitted model's JSON, training, and the grounder's refusal (fakes)."""

from pathlib import Path

import numpy as np
import pytest

from guardrails.base import Decision, GuardContext
from rag.answerability import DEFAULT_MODEL, FEATURES, AnswerabilityModel, Vocabulary, features, terms
from rag.answerability_training import fit
from rag.config import RagSettings
from rag.grounding import Grounder
from rag.retrieval_guards import VerdictCache
from tests.unit.rag.conftest import FakeRetriever, clause

KB = [
    "HOME-2.3 Flood. Each flood claim carries a fixed excess of $1,000.",
    "AUTO-4.1 Roadside assistance. The add-on costs $45 a year and is insurance for breakdowns.",
    "TRV-2.6 Emergency assistance. Call +1 555 014 0199 at any time.",
]


def test_terms_drop_stop_words_and_strip_suffixes():
    assert terms("What excess will I pay if the river floods my houses?") == ["exces", "pay", "river", "flood", "hous"]


def test_features_see_coverage_unknown_words_and_the_kind_of_answer():
    vocabulary = Vocabulary.from_texts(KB)
    chunks = [clause("AUTO-4.1", "Roadside assistance. The add-on costs $45 a year.", 0.7), clause("HOME-2.3", "Flood.", 0.4)]
    named = dict(zip(FEATURES, features("How much does the roadside assistance add-on cost?", chunks, vocabulary)))
    assert named["top1_score"] == 0.7 and abs(named["margin_1_2"] - 0.3) < 1e-9
    assert named["coverage_top1"] == 1.0 and named["unknown_words"] == 0.0
    assert (named["asks_for_kind"], named["kind_found"]) == (1.0, 1.0)
    drone = dict(zip(FEATURES, features("How much does drone insurance cost?", chunks, vocabulary)))
    assert drone["unknown_words"] == 1.0 and drone["coverage_top1"] < 1.0
    phone = dict(zip(FEATURES, features("What is the phone number for roadside assistance?", chunks, vocabulary)))
    assert (phone["asks_for_kind"], phone["kind_found"]) == (1.0, 0.0)  # no number in the matching sentences
    assert features("anything", [], vocabulary) == [0.0] * len(FEATURES)


def test_the_shipped_model_loads_and_matches_the_features():
    model = AnswerabilityModel.load(DEFAULT_MODEL)
    assert model.features == FEATURES and 0.0 < model.threshold < 1.0 and "qa-train.jsonl" in model.trained_on
    assert 0.0 <= model.probability([0.5] * len(FEATURES)) <= 1.0


def test_a_model_for_other_features_is_refused(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(AnswerabilityModel(("a",), (0.0,), (1.0,), (1.0,), 0.0, 0.5).to_json())
    with pytest.raises(ValueError, match="fitted for features"):
        AnswerabilityModel.load(path)


def test_fit_learns_a_separable_signal_and_reports_cross_validation():
    rng = np.random.default_rng(0)
    y = np.array([0] * 60 + [1] * 30, dtype=bool)
    x = rng.normal(size=(90, len(FEATURES)))
    x[:, 0] += np.where(y, -3.0, 3.0)  # the top score separates the classes
    model, cv = fit(x, y, top_scores=np.full(90, 0.9), repeats=2)
    assert cv.f1 > 0.9 and cv.false_refusals <= 0.10 and model.coef[0] < 0
    low, high = np.zeros(len(FEATURES)), np.zeros(len(FEATURES))
    low[0], high[0] = -3.0, 3.0
    assert model.probability(low) > model.threshold > model.probability(high)


class CorpusRetriever(FakeRetriever):
    """A fake retriever that also knows its corpus, as ``ChromaRetriever`` does."""

    def vocabulary(self, tenant):
        return Vocabulary.from_texts(c.text for c in self.chunks.get(tenant, []))


def _always(p):
    n = len(FEATURES)
    return AnswerabilityModel(FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n, float(np.log(p / (1 - p))), threshold=0.5)


async def test_the_grounder_refuses_what_the_model_calls_unanswerable(handbook_chunks):
    settings = RagSettings(answerability=True, min_score=0.42)
    refusing = Grounder(settings, Path("/x"), CorpusRetriever({"t": handbook_chunks}), guards=[], answerability=_always(0.9))
    grounding = await refusing.ground("flood excess?", "t")
    assert grounding.not_found and abs(grounding.unanswerable - 0.9) < 1e-9
    assert {why for _, why in grounding.dropped} == {"unanswerable", "below_threshold"}
    answering = Grounder(settings, Path("/x"), CorpusRetriever({"t": handbook_chunks}), guards=[], answerability=_always(0.1))
    assert not (await answering.ground("flood excess?", "t")).not_found
    plain = Grounder(settings, Path("/x"), FakeRetriever({"t": handbook_chunks}), guards=[], answerability=_always(0.9))
    assert not (await plain.ground("flood excess?", "t")).not_found  # no corpus statistics: the threshold alone
    off = Grounder(RagSettings(), Path("/x"), CorpusRetriever({"t": handbook_chunks}), guards=[])
    assert off.answerability is None


async def test_guard_verdicts_are_cached_per_chunk():
    calls = []

    class Counting:
        name = "counting"

        async def check(self, subject, ctx):
            calls.append(subject)
            return Decision("allow", self.name)

    cache, guard, ctx = VerdictCache(size=1), Counting(), GuardContext("retrieval")
    a, b = clause("A", "a.", 0.5), clause("B", "b.", 0.5)
    for chunk in (a, a, b, a):
        await cache.check(guard, chunk, ctx)
    assert calls == ["A a.", "B b.", "A a."] and cache.hits == 1  # size 1: B evicted A
