"""KL-penalty coefficient controllers (Ziegler et al. 2019): fixed, or adaptive towards a target KL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FixedKLController:
    """A constant beta."""

    value: float

    def update(self, current_kl: float, n_steps: int) -> None:
        """Nothing to adapt."""

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])


@dataclass
class AdaptiveKLController:
    """beta <- beta * (1 + clip(KL / target - 1, -0.2, 0.2) * n_steps / horizon).

    ``n_steps`` is the number of episodes behind ``current_kl`` (the rollout batch size), so ``horizon``
    is measured in episodes, as in the paper.
    """

    value: float
    target: float
    horizon: int

    def update(self, current_kl: float, n_steps: int) -> None:
        proportional_error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + proportional_error * n_steps / self.horizon

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "target": self.target, "horizon": self.horizon}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])


KLController = FixedKLController | AdaptiveKLController


def make_controller(kl_coef: float, kl_target: float | None, horizon: int) -> KLController:
    """Adaptive when a target is set, fixed otherwise."""
    if kl_target is None:
        return FixedKLController(kl_coef)
    return AdaptiveKLController(kl_coef, kl_target, horizon)
