"""Evaluation metrics, threshold tuning and the held-out report on hand-made rankings."""

from rag.answerability import FEATURES, AnswerabilityModel, Vocabulary
from rag.evaluate import QAItem, Ranked, decisions, evaluate, not_found_score, retrieval_scores, tune_threshold
from tests.unit.rag.conftest import clause


def _ranked(qid, gold, scores_ids):
    item = QAItem(qid, "q", tuple(gold), bool(gold))
    return Ranked(item, tuple(clause(cid, "t.", s) for cid, s in scores_ids))


RANKED = [
    _ranked("a1", ["X"], [("X", 0.8), ("Y", 0.5)]),  # rank 1
    _ranked("a2", ["X"], [("Y", 0.6), ("X", 0.55)]),  # rank 2
    _ranked("a3", ["Z"], [("Y", 0.5), ("W", 0.4)]),  # missed
    _ranked("a4", ["X"], [("X", 0.35)]),  # rank 1, low score
    _ranked("u1", [], [("Y", 0.3)]),
    _ranked("u2", [], [("Y", 0.45)]),
]


def _model(p_unanswerable: float) -> AnswerabilityModel:
    """A model that says ``p_unanswerable`` for everything (all weights zero)."""
    import math

    n = len(FEATURES)
    logit = math.log(p_unanswerable / (1 - p_unanswerable))
    return AnswerabilityModel(FEATURES, (0.0,) * n, (1.0,) * n, (0.0,) * n, logit, threshold=0.5)


def test_recall_and_mrr():
    at1, at2, mrr = retrieval_scores(RANKED, k=2)
    assert at1 == 2 / 4 and at2 == 3 / 4 and mrr == (1 + 0.5 + 0 + 1) / 4


def test_not_found_scores_against_unanswerable_questions():
    score = not_found_score(RANKED, 0.4, k=5)  # says not found for a4 (wrong) and u1 (right)
    assert (score.precision, score.recall, score.false_refusals) == (0.5, 0.5, 0.25)
    assert abs(score.f1 - 0.5) < 1e-9


def test_tuning_picks_the_best_f1_and_respects_the_refusal_cap():
    best = tune_threshold(RANKED, k=5)
    assert best.threshold == 0.46 and abs(best.f1 - 0.8) < 1e-9  # a4, u1, u2 said not found
    capped = tune_threshold(RANKED, k=5, max_false_refusals=0.0)
    assert capped.false_refusals == 0.0


def test_the_decision_is_the_floor_or_the_model():
    vocabulary = Vocabulary.from_texts(["t."])
    assert decisions(RANKED, _model(0.1), vocabulary, min_score=0.4, k=5) == [False, False, False, True, True, False]
    assert all(decisions(RANKED, _model(0.9), vocabulary, min_score=0.0, k=5))


def test_the_report_scores_held_out_questions_and_the_baseline_from_training():
    vocabulary = Vocabulary.from_texts(["t."])
    report = evaluate(RANKED, RANKED * 2, _model(0.1), vocabulary, min_score=0.4, k=2)
    assert report.questions == 12 and report.split == {"train": 6, "test": 12}
    assert (report.test.precision, report.test.recall) == (0.5, 0.5)  # the floor alone decides: a4 and u1
    assert report.baseline.threshold == 0.31 and report.recall_at_k == 3 / 4  # capped at 10% refusals: u1 only
    assert report.grounded_recall == 2 / 4  # a1 and a2 keep X above 0.4; a3 never had it; a4 is refused
    assert '"baseline"' in report.to_json()
