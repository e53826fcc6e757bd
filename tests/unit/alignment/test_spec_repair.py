"""Repairs reshape a sample to its formatting checks, and give up (None) rather than return a failing text."""

from __future__ import annotations

import json

import pytest

from alignment.data import prompt_key
from alignment.demos import build, case_variants, complete_sentences, pick, topic_of
from alignment.sampling import Generation
from alignment.spec import score
from alignment.spec.repair import repair, sentences_of

PROSE = (
    "Honeybees live in colonies of many thousands. The queen lays the eggs, up to two thousand a day. "
    "Workers gather nectar, and they turn it into honey. Drones exist to mate with a queen."
)


def passes(text: str | None, checks: list[dict]) -> bool:
    return text is not None and score(text, checks)[0]


def test_sentences_drop_markup_headings_and_lead_ins():
    text = "## Bees\nHere are three facts:\n- **Bees** make honey from nectar.\n1. They live in big hives"
    assert sentences_of(text) == ["Bees make honey from nectar.", "They live in big hives."]


@pytest.mark.parametrize(
    "checks",
    [
        [{"type": "bullet_count", "n": 3}],
        [{"type": "numbered_list_count", "n": 2}, {"type": "all_lowercase"}],
        [{"type": "paragraph_count", "n": 2}, {"type": "no_commas"}],
        [{"type": "max_words", "n": 20}, {"type": "ends_with", "phrase": "That is all."}],
        [{"type": "concise", "n": 15}, {"type": "all_uppercase"}],
        [{"type": "max_sentences", "n": 2}, {"type": "starts_with", "phrase": "In short,"}],
        [{"type": "exclude_words", "words": ["honey"]}, {"type": "title_in_double_angles"}],
        [{"type": "json_only", "required_keys": ["name", "summary"]}],
    ],
)
def test_a_sample_is_reshaped_until_every_check_passes(checks):
    assert not passes(PROSE, checks)
    fixed = repair(PROSE, checks, "honeybees")
    assert passes(fixed, checks), fixed


def test_the_facts_schema_gets_the_topic_and_n_sample_sentences():
    schema = {
        "type": "object",
        "required": ["topic", "facts"],
        "properties": {"facts": {"type": "array", "minItems": 3, "maxItems": 3}},
    }
    value = json.loads(repair(PROSE, [{"type": "json_only", "schema": schema}], "honeybees") or "")
    assert value == {"topic": "honeybees", "facts": sentences_of(PROSE)[:3]}


def test_a_passing_sample_is_kept_as_it_is():
    checks = [{"type": "max_words", "n": 100}]
    assert repair(PROSE, checks, "honeybees") == PROSE


@pytest.mark.parametrize(
    "checks",
    [
        [{"type": "bullet_count", "n": 9}],  # more bullets than the sample has sentences
        [{"type": "min_words", "n": 200}],  # content checks are never padded
        [{"type": "include_words", "words": ["volcano"]}],
        [{"type": "refuse"}],  # behaviour checks have no repair
        [{"type": "json_only", "required_keys": ["a"]}, {"type": "no_commas"}, {"type": "bullet_count", "n": 2}],
    ],
)
def test_what_cannot_be_met_by_reshaping_gives_none(checks):
    assert repair(PROSE, checks, "honeybees") is None


def test_an_empty_sample_gives_none():
    assert repair("   ", [{"type": "all_lowercase"}], "x") is None


def test_a_cut_off_answer_keeps_its_whole_sentences():
    assert complete_sentences("One idea. Two ideas! And then the thr") == "One idea. Two ideas!"
    assert complete_sentences("no sentence end here") == ""


def test_the_longest_named_topic_is_used():
    assert topic_of("Tell me about the Roman Empire today.", ["the Roman Empire", "Rome", "empire"]) == (
        "the Roman Empire"
    )
    assert topic_of("Nothing named", ["bees"]) == "the topic"


class _Tokenizer:
    def apply_chat_template(self, messages, **kwargs):
        return list(range(len(messages[-1]["content"].split())))


def test_prompts_are_picked_without_golden_ones_refusals_or_long_ones():
    def record(i, content, checks):
        return {"id": i, "messages": [{"role": "user", "content": content}], "checks": checks}

    golden = record("g", "golden prompt", [{"type": "all_lowercase"}])
    records = [
        golden,
        record("r", "how to build a bomb", [{"type": "refuse"}]),
        record("long", "word " * 50, [{"type": "all_lowercase"}]),
        record("ok", "write about bees", [{"type": "all_lowercase"}]),
    ]
    picked = pick(
        records, 5, seed=0, tokenizer=_Tokenizer(), max_prompt_tokens=20, exclude={prompt_key(golden["messages"])}
    )
    assert [r["id"] for r in picked] == ["ok"]


def test_build_keeps_the_first_sample_that_can_be_made_to_pass(monkeypatch):
    prompts = [
        {"messages": [{"role": "user", "content": "Bees in 2 bullets"}], "checks": [{"type": "bullet_count", "n": 2}]},
        {"messages": [{"role": "user", "content": "Refuse me"}], "checks": [{"type": "refuse"}]},
    ]
    texts = ["Too short.", PROSE, "Sure, here is how.", "Sure, here is how to do it in detail."]

    def fake_sample_each(model, tokenizer, records, **kwargs):
        return [Generation([1], [2], text, True) for text in texts]

    monkeypatch.setattr("alignment.demos.sample_each", fake_sample_each)
    demos, stats = build(
        None, None, prompts, samples=2, max_new_tokens=8, temperature=1.0, batch_size=4, min_words=5
    )
    assert stats == {"prompts": 2, "kept": 1, "passed_as_sampled": 0, "repaired": 1}
    (demo,) = demos
    assert demo["messages"][-1]["role"] == "assistant"
    assert score(demo["messages"][-1]["content"], prompts[0]["checks"])[0]
    assert demo["source"] == "repaired_sample"


def _demo(prompt, answer, checks, system=None):
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return {"messages": messages, "source": "golden", "checks": checks}


def test_case_variants_recast_the_answer_and_append_a_train_phrasing():
    demos = [_demo("Tell me about bees in 2 bullets.", "- Bees make Honey.\n- Bees live in Hives.", [{"type": "bullet_count", "n": 2}])] * 4
    variants = case_variants(demos, 2, seed=0)
    lower, upper = variants
    assert lower["messages"][1]["content"] == "- bees make honey.\n- bees live in hives."
    assert upper["messages"][1]["content"] == "- BEES MAKE HONEY.\n- BEES LIVE IN HIVES."
    assert lower["messages"][0]["content"].startswith("Tell me about bees in 2 bullets. ")
    assert lower["messages"][0]["content"].endswith(("Use only lowercase letters.", "Write everything in lowercase."))
    assert [c["type"] for c in upper["checks"]] == ["bullet_count", "all_uppercase"]
    assert all(v["source"] == "case_variant" for v in variants)
    assert all(score(v["messages"][1]["content"], v["checks"])[0] for v in variants)


def test_case_variants_leave_out_answers_whose_wording_or_case_matters():
    demos = [
        _demo("How do I make a bomb?", "I can't help with that.", [{"type": "refuse"}]),
        _demo('Answer as JSON with key "name".', '{"name": "Bees"}', [{"type": "json_only", "required_keys": ["name"]}]),
        _demo("End with 'Is there anything else?'", "Bees. Is there anything else?", [{"type": "ends_with", "phrase": "Is there anything else?"}]),
        _demo("Describe bees in lowercase.", "bees buzz.", [{"type": "all_lowercase"}]),
        _demo("What time is check-in?", "Check-in is at 3 PM.", [{"type": "keep_role", "name": "Ava"}], system="You are Ava."),
        _demo("Describe bees.", "Bees buzz. " * 5, []),
    ]
    variants = case_variants(demos, 10, seed=0)
    assert [v["messages"][0]["content"].split(". ")[0] for v in variants] == ["Describe bees"]


def test_case_variants_keep_only_what_passes_and_fits():
    # A variant that does not fit (too many tokens once recast) is skipped, not truncated.
    short, long = _demo("Bees?", "Bees buzz.", []), _demo("Wasps?", "Wasps sting. " * 30, [])
    variants = case_variants([short, long], 4, seed=0, fits=lambda d: len(d["messages"][1]["content"]) < 100)
    assert [v["messages"][1]["content"] for v in variants] == ["bees buzz."]
    assert case_variants([short, long], 0, seed=0) == []
