"""The value head: a linear map from the policy's last hidden state to a scalar, initialised from the RM.

The reward model is the base model plus LoRA plus a linear ``score`` head over its last hidden state;
the policy shares the same base backbone, so copying the RM's ``score`` weights gives the value
function a starting point that already ranks states the way the reward model does.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class ValueHead(nn.Module):
    """V(s) = w . h(s) + b over the policy backbone's (post-norm) last hidden state."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.summary.weight)
        nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden.to(self.summary.weight.dtype)).squeeze(-1)

    @classmethod
    def from_score_weight(cls, weight: torch.Tensor) -> ValueHead:
        """Initialise from a reward model's score head weight of shape (1, hidden)."""
        head = cls(weight.shape[-1])
        with torch.no_grad():
            head.summary.weight.copy_(weight.reshape(1, -1).float())
        return head

    def save(self, path: Path) -> None:
        torch.save(self.state_dict(), path)

    def load(self, path: Path) -> None:
        self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
