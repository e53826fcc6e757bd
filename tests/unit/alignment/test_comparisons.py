"""Best-of-n ranking by the behaviour-spec checkers, on fixed responses (no model)."""

from __future__ import annotations

from alignment.comparisons import check_value, rank_samples, spec_reward
from alignment.sampling import Generation

LOWER = [{"type": "all_lowercase"}]


def gen(text: str) -> Generation:
    return Generation([1], [2], text, True)


def test_check_value_counts_strict_and_loose_passes():
    assert check_value("all quiet here", LOWER) == 2.0
    assert check_value("Loud Text", LOWER) == 0.0
    # passes loosely only: the first line is dropped in a loose variant
    assert check_value("Sure!\nall quiet here", LOWER) == 1.0
    assert check_value("anything", []) == 0.0


def test_spec_reward_pays_a_bonus_only_when_every_check_passes_strictly():
    checks = [*LOWER, {"type": "no_commas"}]
    assert spec_reward("all quiet here", checks) == 3.0
    assert spec_reward("all quiet, here", checks) == 1.0  # half the checks: partial credit, no bonus
    assert spec_reward("Sure!\nall quiet here", checks) == check_value("Sure!\nall quiet here", checks) == 1.5
    assert spec_reward("anything", []) == 0.0


def test_best_and_worst_sample_become_a_pair():
    prompts = [
        {"id": "t-1", "messages": [{"role": "user", "content": "answer in lowercase"}], "checks": LOWER}
    ]
    samples = [gen("Mixed Case"), gen("all lowercase answer"), gen("Sure!\nhalf right")]
    (pair,) = rank_samples(prompts, samples, n=3)
    assert pair["chosen"][0]["content"] == "all lowercase answer"
    assert pair["rejected"][0]["content"] == "Mixed Case"
    assert pair["source"] == "best_of_n" and pair["meta"]["id"] == "t-1"
    assert pair["meta"]["chosen_value"] > pair["meta"]["rejected_value"]


def test_ties_give_no_pair():
    prompts = [{"messages": [{"role": "user", "content": "x"}], "checks": LOWER}]
    assert rank_samples(prompts, [gen("A"), gen("B")], n=2) == []


def test_golden_answer_is_paired_with_the_worst_sample():
    golden = [{"messages": [{"role": "user", "content": "x"}], "answer": "a calm reply", "checks": LOWER}]
    (pair,) = rank_samples(golden, [gen("LOUD"), gen("quiet")], n=2, golden=True)
    assert (pair["chosen"][0]["content"], pair["rejected"][0]["content"]) == ("a calm reply", "LOUD")
    assert pair["source"] == "golden_vs_sample"


def test_samples_are_grouped_per_prompt_in_order():
    prompts = [{"messages": [{"role": "user", "content": f"p{i}"}], "checks": LOWER} for i in range(2)]
    pairs = rank_samples(prompts, [gen("ok"), gen("NO"), gen("YES"), gen("fine")], n=2)
    assert [p["prompt"][0]["content"] for p in pairs] == ["p0", "p1"]
    assert [p["chosen"][0]["content"] for p in pairs] == ["ok", "fine"]
