"""In-repo PPO (TRL >= 1.13 ships none): math in ``core``, KL control in ``kl``, the loop in ``trainer``."""

from alignment.ppo.kl import AdaptiveKLController, FixedKLController, make_controller
from alignment.ppo.trainer import PPOTrainer, Prompt, RewardFn, Rollout
from alignment.ppo.value_head import ValueHead

__all__ = [
    "AdaptiveKLController",
    "FixedKLController",
    "PPOTrainer",
    "Prompt",
    "RewardFn",
    "Rollout",
    "ValueHead",
    "make_controller",
]
