"""The reward model learns a preference from fixed comparisons and generalises to held-out ones.

Chosen answers use calm lowercase words, rejected ones shouting uppercase words; held-out pairs use
new prompts and new word combinations. The untrained model is checked too, so the threshold is not
something a random score head would pass.
"""

from __future__ import annotations

import random

import pytest
import torch
from peft import get_peft_model

from alignment import models
from alignment.recipe import Recipe
from alignment.reward import RewardScorer, pairwise_accuracy, sequence_classifier, train

CALM = "calm quiet gentle soft kind warm slow easy clear simple".split()
LOUD = "LOUD ANGRY HARSH FAST BRUTAL COLD WILD SHARP ROUGH HARD".split()
TOPICS = ["boats", "tea", "maps", "owls", "rain", "jazz", "bread", "snow"]


def pairs(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "prompt": [{"role": "user", "content": f"Say something about {rng.choice(TOPICS)}."}],
            "chosen": [{"role": "assistant", "content": " ".join(rng.sample(CALM, 4))}],
            "rejected": [{"role": "assistant", "content": " ".join(rng.sample(LOUD, 4))}],
            "source": "test",
            "meta": {},
        }
        for _ in range(count)
    ]


def recipe() -> Recipe:
    r = Recipe(name="rm-test", model="tiny-random", seed=0)
    r.reward.max_steps, r.reward.batch_size, r.reward.lr = 12, 8, 3e-3
    r.reward.lora.r, r.reward.lora.alpha = 8, 16
    return r


def test_reward_model_reaches_high_heldout_accuracy_on_fixed_examples(tmp_path):
    heldout = pairs(seed=1, count=24)
    torch.manual_seed(0)
    fresh = get_peft_model(
        sequence_classifier("tiny-random"), models.lora_config(recipe().reward.lora, "SEQ_CLS")
    )
    untrained = RewardScorer(fresh, models.load_tokenizer("tiny-random"))
    assert pairwise_accuracy(untrained, heldout) < 0.6

    scorer, metrics = train(recipe(), pairs(seed=0, count=32), tmp_path)
    assert metrics["steps"] == 12
    assert pairwise_accuracy(scorer, heldout) >= 0.9
    # the saved adapter scores exactly like the in-memory model
    reloaded = RewardScorer.load(tmp_path / "adapter")
    conversations = [p["prompt"] + p["chosen"] for p in heldout[:4]]
    assert torch.allclose(reloaded.score(conversations), scorer.score(conversations), atol=1e-5)
    assert reloaded.score_weight().shape == (1, 64)


class LengthScorer:
    """Scores an answer by its length: a fake with known pairwise outcomes."""

    def score(self, conversations):
        return torch.tensor([float(len(c[-1]["content"])) for c in conversations])


def test_pairwise_accuracy_counts_strict_wins_only():
    def pair(chosen, rejected):
        return {
            "prompt": [{"role": "user", "content": "q"}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }

    data = [pair("long answer", "short"), pair("tie", "eit"), pair("a", "longer"), pair("longest one", "x")]
    assert pairwise_accuracy(LengthScorer(), data) == pytest.approx(0.5)
