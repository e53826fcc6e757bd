"""PPO math against hand-computed values: GAE, whitening, KL-shaped rewards, clipped losses."""

from __future__ import annotations

import math

import pytest
import torch

from alignment.ppo import core


def t(values):
    return torch.tensor(values, dtype=torch.float32)


def test_gae_matches_hand_computation():
    # gamma=0.9, lam=0.8: deltas 1.4, 0.35, 0.5; A2=0.5, A1=0.35+0.72*0.5, A0=1.4+0.72*A1
    advantages, returns = core.gae(
        t([[1.0, 0.0, 2.0]]), t([[0.5, 1.0, 1.5]]), t([[1, 1, 1]]), gamma=0.9, lam=0.8
    )
    assert advantages[0].tolist() == pytest.approx([1.9112, 0.71, 0.5], abs=1e-5)
    assert returns[0].tolist() == pytest.approx([2.4112, 1.71, 2.0], abs=1e-5)


def test_gae_stops_at_padding():
    # The padded position's value (9.0) and reward must not leak into the real tokens.
    advantages, returns = core.gae(
        t([[1.0, 2.0, 5.0]]), t([[0.5, 1.0, 9.0]]), t([[1, 1, 0]]), gamma=0.9, lam=0.8
    )
    assert advantages[0].tolist() == pytest.approx([2.12, 1.0, 0.0], abs=1e-5)
    assert returns[0].tolist() == pytest.approx([2.62, 2.0, 0.0], abs=1e-5)


def test_gae_with_gamma_and_lambda_one_is_monte_carlo_return_minus_value():
    rewards, values = t([[0.1, -0.2, 1.0]]), t([[0.3, 0.2, 0.1]])
    advantages, returns = core.gae(rewards, values, t([[1, 1, 1]]), gamma=1.0, lam=1.0)
    assert returns[0].tolist() == pytest.approx([0.9, 0.8, 1.0], abs=1e-6)
    assert advantages[0].tolist() == pytest.approx([0.6, 0.6, 0.9], abs=1e-6)


def test_masked_whiten():
    assert core.masked_whiten(t([1.0, 3.0, 5.0]), t([1, 1, 1])).tolist() == pytest.approx(
        [-1.0, 0.0, 1.0], abs=1e-4
    )
    # shift_mean=False keeps the mean (3) and only rescales to unit variance
    assert core.masked_whiten(t([1.0, 3.0, 5.0]), t([1, 1, 1]), shift_mean=False).tolist() == pytest.approx(
        [2.0, 3.0, 4.0], abs=1e-4
    )
    # masked entries neither count nor change
    out = core.masked_whiten(t([1.0, 2.0, 3.0, 100.0]), t([1, 1, 1, 0]))
    assert out.tolist() == pytest.approx([-1.0, 0.0, 1.0, 100.0], abs=1e-4)


def test_masked_mean_and_var():
    values, mask = t([[1.0, 2.0, 30.0], [3.0, 40.0, 50.0]]), t([[1, 1, 0], [1, 0, 0]])
    assert core.masked_mean(values, mask).item() == pytest.approx(2.0)
    assert core.masked_var(values, mask).item() == pytest.approx(1.0)  # (1 + 0 + 1) / (3 - 1)
    assert core.masked_mean(values, mask, dim=1).tolist() == pytest.approx([1.5, 3.0])


def test_kl_shaped_rewards_put_the_score_on_the_last_real_token():
    scores = t([2.0, 1.0])
    logprobs = t([[-1.0, -1.0, -1.0], [-2.0, -2.0, -2.0]])
    ref = t([[-1.5, -1.0, -0.5], [-2.0, -1.0, -2.0]])
    mask = t([[1, 1, 1], [1, 1, 0]])
    rewards, kl = core.kl_shaped_rewards(scores, logprobs, ref, mask, kl_coef=0.1)
    assert kl.flatten().tolist() == pytest.approx([0.5, 0.0, -0.5, 0.0, -1.0, 0.0])
    assert rewards.flatten().tolist() == pytest.approx([-0.05, 0.0, 2.05, 0.0, 1.1, 0.0], abs=1e-6)


def test_policy_loss_clips_both_ways():
    old = t([[0.0, 0.0]])
    ratio = t([[1.5, 0.5]])
    loss, stats = core.policy_loss(torch.log(ratio), old, t([[1.0, -1.0]]), t([[1, 1]]), cliprange=0.2)
    # token 1: max(-1.5, -1.2) = -1.2; token 2: max(0.5, 0.8) = 0.8
    assert loss.item() == pytest.approx(-0.2, abs=1e-6)
    assert stats["clipfrac"].item() == pytest.approx(1.0)


def test_policy_loss_is_pessimistic_not_clipped_inside_or_on_the_losing_side():
    old = t([[0.0, 0.0, 0.0]])
    ratio = t([[1.1, 0.9, 0.5]])
    loss, stats = core.policy_loss(
        torch.log(ratio), old, t([[2.0, -1.0, 1.0]]), t([[1, 1, 1]]), cliprange=0.2
    )
    # -2.2, 0.9 inside the range; ratio 0.5 with A=1: max(-0.5, -0.8) = -0.5 (unclipped)
    assert loss.item() == pytest.approx((-2.2 + 0.9 - 0.5) / 3, abs=1e-6)
    assert stats["clipfrac"].item() == 0.0
    assert stats["approx_kl"].item() == pytest.approx(
        0.5 * sum(math.log(r) ** 2 for r in (1.1, 0.9, 0.5)) / 3, abs=1e-6
    )


def test_value_loss_clipped():
    loss, stats = core.value_loss(
        t([[2.0, 2.0]]), t([[1.0, 1.0]]), t([[3.0, 1.0]]), t([[1, 1]]), cliprange_value=0.5
    )
    # token 1: V clipped to 1.5: max((2-3)^2, (1.5-3)^2) = 2.25; token 2: max((2-1)^2, (1.5-1)^2) = 1
    assert loss.item() == pytest.approx(0.5 * (2.25 + 1.0) / 2)
    assert stats["vf_clipfrac"].item() == pytest.approx(0.5)


def test_logprobs_and_entropy_from_logits():
    logits = torch.zeros(1, 2, 4)
    logits[0, 1, 3] = math.log(3.0)  # probs 1/6, 1/6, 1/6, 1/2
    logp = core.logprobs_from_logits(logits, torch.tensor([[0, 3]]))
    assert logp.tolist()[0] == pytest.approx([math.log(0.25), math.log(0.5)])
    entropy = core.entropy_from_logits(logits)
    assert entropy.tolist()[0] == pytest.approx(
        [math.log(4), -(3 * (1 / 6) * math.log(1 / 6) + 0.5 * math.log(0.5))]
    )
