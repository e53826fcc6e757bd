"""PPO checkpoint and resume: an interrupted run continues exactly where an uninterrupted one goes."""

from __future__ import annotations

import json

import torch

from alignment.ppo import PPOTrainer, ValueHead
from alignment.recipe import PPOSettings

from .conftest import TOY_EOS, TOY_HIDDEN, TOY_PAD


def reward(prompts, responses, finished):
    return torch.tensor([sum(token == 7 for token in r) / max(len(r), 1) for r in responses])


# toy demonstrations for the ptx term: prompt tokens masked out of the labels
DEMOS = [
    {"input_ids": [3, 4, 5, 7, 7, 1], "labels": [-100, -100, -100, 7, 7, 1]},
    {"input_ids": [6, 2, 7, 1], "labels": [-100, -100, 7, 1]},
    {"input_ids": [9, 9, 9, 8, 7, 7, 1], "labels": [-100, -100, -100, 8, 7, 7, 1]},
]


def trainer_for(policy, steps, log_path=None):
    settings = PPOSettings(
        steps=steps,
        batch_size=8,
        minibatch_size=4,
        epochs=1,
        lr=3e-3,
        max_new_tokens=6,
        kl_target=None,
        checkpoint_every=2,
        ptx_coef=0.1,
        ptx_batch_size=2,
    )
    return PPOTrainer(
        policy,
        ValueHead(TOY_HIDDEN),
        settings,
        reward,
        pad_id=TOY_PAD,
        eos_id=TOY_EOS,
        ptx_examples=DEMOS,
        log_path=log_path,
    )


def lora_weights(policy):
    return {name: p.detach().clone() for name, p in policy.named_parameters() if "lora_" in name}


def test_resume_matches_an_uninterrupted_run(toy_policy, toy_prompts, tmp_path):
    straight_policy = toy_policy(seed=0)
    straight_trainer = trainer_for(straight_policy, 4)
    torch.manual_seed(123)  # sampling draws from torch's global RNG, which the checkpoint carries
    straight = straight_trainer.train(toy_prompts)

    checkpoint, log = tmp_path / "checkpoint", tmp_path / "log.jsonl"
    first_half = trainer_for(toy_policy(seed=0), 2, log)
    torch.manual_seed(123)
    first_half.train(toy_prompts, checkpoint_dir=checkpoint)
    assert json.loads((checkpoint / "state.json").read_text())["step"] == 2
    with log.open("a") as handle:  # a step logged after the checkpoint, then a crash: it must be dropped
        handle.write(json.dumps({"step": 3, "reward": 99.0}) + "\n")

    resumed_policy = toy_policy(seed=0)  # same base weights (as loaded from disk) ...
    with torch.no_grad():  # ... but scrambled adapter weights: the checkpoint must overwrite them
        for name, param in resumed_policy.named_parameters():
            if "lora_" in name:
                param.normal_()
    resumed = trainer_for(resumed_policy, 4, log)
    rest = resumed.train(toy_prompts, checkpoint_dir=checkpoint)

    assert [row["step"] for row in rest] == [3, 4]
    assert all(row["ptx_loss"] > 0 for row in straight)
    for a, b in zip(straight[2:], rest, strict=True):
        assert abs(a["reward"] - b["reward"]) < 1e-6 and abs(a["kl"] - b["kl"]) < 1e-5
    expected, got = lora_weights(straight_policy), lora_weights(resumed_policy)
    assert expected.keys() == got.keys()
    assert all(torch.allclose(expected[k], got[k], atol=1e-6) for k in expected)
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
