"""`keel guards eval`'s report and chart from a results dict (the numbers themselves come from held-out runs)."""

from guardrails.evaluate import plot, report

CATEGORIES = {f"S{i}": 1.0 for i in range(1, 15)} | {"S11": 0.583}


def results(hazard_recall: float = 0.905, injection_fp: float = 0.038) -> dict:
    return {
        "embedding": "minilm + smollm2",
        "hazard": {"recall": hazard_recall, "edgy_fp": 0.009, "plain_fp": 0.0, "category_accuracy": 0.947,
                   "embedded": 0.5, "deep": 0.4, "recall_by_category": CATEGORIES},
        "injection": {"recall": 0.917, "fp": injection_fp, "recall_user": 0.927, "recall_document": 0.907,
                      "rules_only": {"recall": 0.3, "fp": 0.02}, "embedded": 0.4, "deep": 0.4},
        "ordinary": {"questions": 177, "hazard_fp": 0.011, "injection_fp": 0.0},
        "pii": {"recall": 1.0, "exact_span_recall": 1.0, "precision": 0.98, "distractor_false_positives": 0,
                "recall_by_type": {"US_SSN": 1.0}},
    }


def test_the_report_says_which_goals_are_missed():
    met = report(results())
    assert "| hazard recall (unsafe prompts) | 0.905 | ≥ 0.9 | yes |" in met and "NO" not in met
    missed = report(results(hazard_recall=0.899, injection_fp=0.06))
    assert "| hazard recall (unsafe prompts) | 0.899 | ≥ 0.9 | NO |" in missed
    assert "| injection false positives | 0.06 | ≤ 0.05 | NO |" in missed
    assert "S11 0.583" in missed and "(177, data/kb/qa.jsonl): hazard / injection | 0.011 / 0.0 |" in missed


def test_the_chart_is_a_png(tmp_path):
    path = plot(results(hazard_recall=0.8), tmp_path / "eval" / "report.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
