"""The PPO stage's reward function: reward model, checkers, or both."""

from __future__ import annotations

import pytest
import torch

from alignment.ppo import Prompt
from alignment.ppo.stage import make_reward_fn


class Tokens:
    """A fake tokenizer: token ids index a word list."""

    words = ("<eos>", "all", "quiet", "LOUD")

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(self.words[i] for i in ids if not (skip_special_tokens and i == 0))


class FakeScorer:
    def __init__(self):
        self.seen = []

    def score(self, conversations):
        self.seen.extend(conversations)
        return torch.tensor([0.5] * len(conversations))


PROMPTS = [
    Prompt([1], {"messages": [{"role": "user", "content": "whisper"}], "checks": [{"type": "all_lowercase"}]})
] * 2
RESPONSES = [[1, 2, 0], [3, 0]]  # "all quiet", "LOUD"


def test_checker_reward_is_the_spec_reward():
    reward = make_reward_fn("checkers", Tokens(), None)(PROMPTS, RESPONSES, [True, True])
    assert reward.tolist() == pytest.approx([3.0, 0.0])


def test_rm_reward_scores_the_full_conversation_and_sums_with_checkers():
    scorer = FakeScorer()
    reward = make_reward_fn("rm+checkers", Tokens(), scorer)(PROMPTS, RESPONSES, [True, True])
    assert reward.tolist() == pytest.approx([3.5, 0.5])
    assert scorer.seen[0] == [
        {"role": "user", "content": "whisper"},
        {"role": "assistant", "content": "all quiet"},
    ]
