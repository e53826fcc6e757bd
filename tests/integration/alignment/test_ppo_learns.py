"""PPO learns a known reward (the frequency of one target token) on a toy policy, and the KL penalty
keeps it near its reference (the same weights with the adapter disabled). Fixed seeds, no timing."""

from __future__ import annotations

import torch

from alignment.ppo import PPOTrainer, ValueHead
from alignment.recipe import PPOSettings

from .conftest import TOY_EOS, TOY_HIDDEN, TOY_PAD

TARGET = 5


def target_frequency(prompts, responses, finished):
    return torch.tensor([sum(token == TARGET for token in r) / max(len(r), 1) for r in responses])


def train(toy_policy, toy_prompts, *, kl_coef, kl_target, steps=20):
    settings = PPOSettings(
        steps=steps,
        batch_size=16,
        minibatch_size=8,
        epochs=2,
        lr=3e-3,
        max_new_tokens=8,
        kl_coef=kl_coef,
        kl_target=kl_target,
        kl_horizon=200,
        missing_eos_penalty=None,
    )
    trainer = PPOTrainer(
        toy_policy(), ValueHead(TOY_HIDDEN), settings, target_frequency, pad_id=TOY_PAD, eos_id=TOY_EOS
    )
    return trainer.train(toy_prompts)


def mean(history, key, part):
    rows = history[part]
    return sum(row[key] for row in rows) / len(rows)


def test_mean_reward_rises_clearly_while_adaptive_kl_stays_bounded(toy_policy, toy_prompts):
    history = train(toy_policy, toy_prompts, kl_coef=0.05, kl_target=4.0)
    start, end = mean(history, "reward", slice(0, 3)), mean(history, "reward", slice(-5, None))
    assert start < 0.15  # about 1/16 at random initialisation
    assert end > start + 0.2 and end > 2.5 * start
    # bounded: never beyond 3x the target (an unconstrained policy reaches ~22 nats: 8 tokens x ln 16)
    assert max(row["kl"] for row in history) < 12.0
    for key in ("entropy", "clipfrac", "value_loss", "kl_coef", "policy_loss", "approx_kl"):
        assert all(key in row for row in history)
    assert history[-1]["kl_coef"] != 0.05  # the controller adapted


def test_a_larger_kl_coefficient_keeps_the_policy_closer_to_the_reference(toy_policy, toy_prompts):
    loose = train(toy_policy, toy_prompts, kl_coef=0.02, kl_target=None)
    tight = train(toy_policy, toy_prompts, kl_coef=0.5, kl_target=None)
    kl_loose, kl_tight = mean(loose, "kl", slice(-5, None)), mean(tight, "kl", slice(-5, None))
    assert kl_loose > 5.0
    assert kl_tight < 0.25 * kl_loose
    assert mean(tight, "reward", slice(-5, None)) < mean(loose, "reward", slice(-5, None))
