"""Evaluation metrics and threshold tuning on hand-made rankings."""

from rag.evaluate import QAItem, Ranked, evaluate, not_found_score, retrieval_scores, split, tune_threshold
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


def test_split_is_stratified_and_report_complete():
    tune, test = split(RANKED * 4, seed=1)
    assert sum(not r.item.answerable for r in tune) == sum(not r.item.answerable for r in test) == 4
    report = evaluate(RANKED * 4, k=2)
    assert report.questions == 24 and report.split == {"tune": 12, "test": 12}
    assert "threshold" in report.to_json()
