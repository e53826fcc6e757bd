"""Adaptive and fixed KL controllers (Ziegler et al. 2019)."""

from __future__ import annotations

import pytest

from alignment.ppo.kl import AdaptiveKLController, FixedKLController, make_controller


def test_adaptive_controller_raises_beta_when_kl_is_above_target_with_clipped_error():
    controller = AdaptiveKLController(0.1, target=6.0, horizon=10_000)
    controller.update(current_kl=12.0, n_steps=256)  # error clipped to +0.2
    assert controller.value == pytest.approx(0.1 * (1 + 0.2 * 256 / 10_000))


def test_adaptive_controller_lowers_beta_when_kl_is_below_target():
    controller = AdaptiveKLController(0.1, target=6.0, horizon=1_000)
    controller.update(current_kl=3.0, n_steps=100)  # error -0.5 clipped to -0.2
    assert controller.value == pytest.approx(0.1 * (1 - 0.2 * 100 / 1_000))
    controller.update(current_kl=6.6, n_steps=100)  # error +0.1, inside the clip
    assert controller.value == pytest.approx(0.1 * 0.98 * 1.01)


def test_adaptive_controller_converges_towards_a_target_kl():
    controller = AdaptiveKLController(1.0, target=6.0, horizon=100)
    for _ in range(50):
        controller.update(current_kl=6.0, n_steps=10)
    assert controller.value == pytest.approx(1.0)


def test_fixed_controller_never_moves_and_factory_picks_by_target():
    fixed = make_controller(0.2, None, 10_000)
    assert isinstance(fixed, FixedKLController)
    fixed.update(100.0, 64)
    assert fixed.value == 0.2
    assert isinstance(make_controller(0.2, 6.0, 10_000), AdaptiveKLController)


def test_controller_state_round_trip():
    controller = AdaptiveKLController(0.1, 6.0, 100)
    controller.update(12.0, 10)
    restored = AdaptiveKLController(0.1, 6.0, 100)
    restored.load_state_dict(controller.state_dict())
    assert restored.value == controller.value
