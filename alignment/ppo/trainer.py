"""PPO for a LoRA policy, at the token level: rollout, KL-shaped rewards, GAE, clipped updates, PPO-ptx.

The policy is a peft model: its reference is the same weights with the adapter disabled (no second
copy). The value head sits on the policy backbone's last hidden state. Rewards come from a callable,
so the same trainer runs against a reward model, the behaviour-spec checkers, or a toy reward in tests.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from alignment.ppo import core
from alignment.ppo.kl import make_controller
from alignment.ppo.value_head import ValueHead
from alignment.recipe import PPOSettings
from alignment.sampling import Batch, sample_batch


@dataclass(frozen=True)
class Prompt:
    """A tokenized prompt plus whatever the reward function needs to score its responses."""

    ids: list[int]
    meta: Any = None


# (prompts, response token ids up to EOS, finished flags) -> one score per response
RewardFn = Callable[[Sequence[Prompt], list[list[int]], list[bool]], torch.Tensor]


@dataclass
class Rollout:
    """Everything one PPO update needs about a batch of episodes."""

    batch: Batch
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    stats: dict[str, float]


class PPOTrainer:
    """Runs PPO steps on ``policy`` (a peft model) with ``value_head``, logging each step as JSONL."""

    def __init__(
        self,
        policy: Any,
        value_head: ValueHead,
        settings: PPOSettings,
        reward_fn: RewardFn,
        *,
        pad_id: int,
        eos_id: int,
        ptx_examples: Sequence[dict[str, list[int]]] = (),
        seed: int = 0,
        log_path: Path | None = None,
    ) -> None:
        self.policy = policy
        self.device = next(policy.parameters()).device
        self.value_head = value_head.to(self.device)
        self.settings = settings
        self.reward_fn = reward_fn
        self.pad_id, self.eos_id = pad_id, eos_id
        self.ptx_examples = list(ptx_examples)
        self.seed = seed
        self.log_path = log_path
        self.kl_ctl = make_controller(settings.kl_coef, settings.kl_target, settings.kl_horizon)
        params = [p for p in policy.parameters() if p.requires_grad] + list(self.value_head.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=settings.lr, eps=1e-5)
        self.step_count = 0
        self._permutations: dict[tuple[int, int, int], torch.Tensor] = {}
        self.policy.eval()  # no dropout: old and new log-probs must come from the same function

    def _backbone(self) -> tuple[Any, Any]:
        model = self.policy.get_base_model()
        return model.get_decoder(), model.get_output_embeddings()

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits for each response token (from the position before it) and the value of that state."""
        decoder, lm_head = self._backbone()
        input_ids, attention_mask = batch.input_ids, batch.attention_mask
        position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        hidden = decoder(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        ).last_hidden_state
        query_len, response_len = batch.queries.shape[1], batch.responses.shape[1]
        hidden = hidden[:, query_len - 1 : query_len + response_len - 1]
        logits = lm_head(hidden).float()
        if self.settings.temperature > 0:
            logits = logits / self.settings.temperature
        return logits, self.value_head(hidden)

    @torch.no_grad()
    def rollout(self, prompts: Sequence[Prompt]) -> Rollout:
        """Sample responses, score them, and turn scores and KL into advantages and returns."""
        s = self.settings
        batch = sample_batch(
            self.policy,
            [p.ids for p in prompts],
            pad_id=self.pad_id,
            eos_id=self.eos_id,
            max_new_tokens=s.max_new_tokens,
            temperature=s.temperature,
        )
        mask = batch.response_mask.float()
        logits, values = self.forward(batch)
        logprobs = core.logprobs_from_logits(logits, batch.responses)
        entropy = core.masked_mean(core.entropy_from_logits(logits), mask)
        del logits
        with self.policy.disable_adapter():
            ref_logits, _ = self.forward(batch)
        ref_logprobs = core.logprobs_from_logits(ref_logits, batch.responses)
        del ref_logits

        finished = batch.finished.tolist()
        scores = self.reward_fn(prompts, batch.response_lists(), finished).to(self.device).float()
        raw_scores = scores.clone()
        if s.missing_eos_penalty is not None:
            scores = scores - s.missing_eos_penalty * (~batch.finished).float()

        rewards, kl = core.kl_shaped_rewards(scores, logprobs, ref_logprobs, mask, self.kl_ctl.value)
        if s.whiten_rewards:
            rewards = core.masked_whiten(rewards, mask, shift_mean=False)
        advantages, returns = core.gae(rewards, values, mask, s.gamma, s.lam)
        advantages = core.masked_whiten(advantages, mask) * mask
        sequence_kl = kl.sum(dim=1)
        stats = {
            "reward": raw_scores.mean().item(),
            "reward_std": raw_scores.std().item() if len(raw_scores) > 1 else 0.0,
            "score_with_penalty": scores.mean().item(),
            "kl": sequence_kl.mean().item(),
            "kl_coef": self.kl_ctl.value,
            "entropy": entropy.item(),
            "response_length": mask.sum(dim=1).mean().item(),
            "eos_rate": batch.finished.float().mean().item(),
            "value_mean": core.masked_mean(values, mask).item(),
            "return_mean": core.masked_mean(returns, mask).item(),
        }
        return Rollout(batch, logprobs, values * mask, advantages, returns, stats)

    def _ptx_loss(self, draw: int) -> torch.Tensor:
        """LM loss on a batch of demonstrations (assistant tokens only): InstructGPT's ptx term."""
        count = self.settings.ptx_batch_size
        rows = [self.ptx_examples[i] for i in self._indices("ptx", len(self.ptx_examples), count, draw)]
        width = max(len(r["input_ids"]) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            input_ids[i, :n] = torch.tensor(row["input_ids"])
            labels[i, :n] = torch.tensor(row["labels"])
            attention_mask[i, :n] = 1
        out = self.policy(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            labels=labels.to(self.device),
        )
        return out.loss

    def update(self, rollout: Rollout) -> dict[str, float]:
        """``epochs`` passes of clipped PPO over the rollout in shuffled minibatches."""
        s = self.settings
        batch = rollout.batch
        size = batch.queries.shape[0]
        totals: dict[str, float] = {}
        updates = 0
        updates_per_step = s.epochs * -(-size // s.minibatch_size)
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.step_count)
        for _ in range(s.epochs):
            for chunk in torch.randperm(size, generator=generator).split(s.minibatch_size):
                index = chunk.to(self.device)
                mini = Batch(
                    batch.queries[index],
                    batch.query_mask[index],
                    batch.responses[index],
                    batch.response_mask[index],
                    batch.finished[index],
                )
                mask = mini.response_mask.float()
                logits, values = self.forward(mini)
                logprobs = core.logprobs_from_logits(logits, mini.responses)
                pg_loss, pg_stats = core.policy_loss(
                    logprobs, rollout.logprobs[index], rollout.advantages[index], mask, s.cliprange
                )
                vf_loss, vf_stats = core.value_loss(
                    values, rollout.values[index], rollout.returns[index], mask, s.cliprange_value
                )
                loss = pg_loss + s.vf_coef * vf_loss
                step_stats = {"policy_loss": pg_loss.item(), "value_loss": vf_loss.item()}
                if s.ptx_coef > 0 and self.ptx_examples:
                    ptx = self._ptx_loss(draw=self.step_count * updates_per_step + updates)
                    loss = loss + s.ptx_coef * ptx
                    step_stats["ptx_loss"] = ptx.item()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                params = [p for group in self.optimizer.param_groups for p in group["params"]]
                torch.nn.utils.clip_grad_norm_(params, s.max_grad_norm)
                self.optimizer.step()
                step_stats.update({k: v.item() for k, v in {**pg_stats, **vf_stats}.items()})
                for key, value in step_stats.items():
                    totals[key] = totals.get(key, 0.0) + value
                updates += 1
        return {key: value / max(updates, 1) for key, value in totals.items()}

    def step(self, prompts: Sequence[Prompt]) -> dict[str, float]:
        """One PPO iteration: rollout, update, adapt the KL coefficient, log."""
        started = time.perf_counter()
        rollout = self.rollout(prompts)
        stats = {**rollout.stats, **self.update(rollout)}
        self.kl_ctl.update(rollout.stats["kl"], len(prompts))
        self.step_count += 1
        stats = {"step": self.step_count, **stats, "seconds": round(time.perf_counter() - started, 3)}
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(stats) + "\n")
        return stats

    def _indices(self, stream: str, population: int, count: int, draw: int) -> list[int]:
        """The ``draw``-th batch of ``count`` indices from a stream of seeded epoch-wise permutations.

        A function of the draw number alone, so a resumed run sees the same prompts and demonstrations.
        """
        salt = 1 if stream == "ptx" else 0
        out = []
        for k in range(draw * count, (draw + 1) * count):
            epoch, position = divmod(k, population)
            key = (salt, epoch, population)
            if key not in self._permutations:
                generator = torch.Generator().manual_seed(self.seed * 7919 + salt * 104_729 + epoch)
                self._permutations[key] = torch.randperm(population, generator=generator)
            out.append(int(self._permutations[key][position]))
        return out

    def prompts_for_step(self, prompts: Sequence[Prompt]) -> list[Prompt]:
        return [
            prompts[i]
            for i in self._indices("prompts", len(prompts), self.settings.batch_size, self.step_count)
        ]

    def train(self, prompts: Sequence[Prompt], checkpoint_dir: Path | None = None) -> list[dict[str, float]]:
        """Run until ``settings.steps``, resuming from (and periodically writing) ``checkpoint_dir``."""
        if checkpoint_dir is not None and (checkpoint_dir / "state.json").is_file():
            self.load_checkpoint(checkpoint_dir)
        history = []
        bar = tqdm(total=self.settings.steps, initial=self.step_count, desc="ppo", unit="step")
        while self.step_count < self.settings.steps:
            stats = self.step(self.prompts_for_step(prompts))
            history.append(stats)
            bar.update(1)
            bar.set_postfix(
                reward=f"{stats['reward']:.3f}", kl=f"{stats['kl']:.3f}", clip=f"{stats['clipfrac']:.2f}"
            )
            every = self.settings.checkpoint_every
            if checkpoint_dir is not None and (
                self.step_count % every == 0 or self.step_count == self.settings.steps
            ):
                self.save_checkpoint(checkpoint_dir)
        bar.close()
        return history

    def save_checkpoint(self, directory: Path) -> None:
        """Adapter, value head, optimizer, KL controller, step and RNG state, written atomically."""
        tmp = directory.with_name(directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.policy.save_pretrained(str(tmp / "adapter"))
        self.value_head.save(tmp / "value_head.pt")
        torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save({"torch": torch.get_rng_state()}, tmp / "rng.pt")
        state = {"step": self.step_count, "kl_controller": self.kl_ctl.state_dict()}
        (tmp / "state.json").write_text(json.dumps(state, indent=2) + "\n")
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        tmp.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    def load_checkpoint(self, directory: Path) -> None:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        state = json.loads((directory / "state.json").read_text())
        weights = load_file(str(directory / "adapter" / "adapter_model.safetensors"), device=str(self.device))
        set_peft_model_state_dict(self.policy, weights)
        self.value_head.load(directory / "value_head.pt")
        self.optimizer.load_state_dict(torch.load(directory / "optimizer.pt", weights_only=True))
        torch.set_rng_state(torch.load(directory / "rng.pt", weights_only=True)["torch"])
        self.kl_ctl.load_state_dict(state["kl_controller"])
        self.step_count = int(state["step"])
        if self.log_path is not None and self.log_path.is_file():  # drop log lines past the checkpoint
            lines = [line for line in self.log_path.read_text().splitlines() if line.strip()]
            kept = [line for line in lines if json.loads(line)["step"] <= self.step_count]
            self.log_path.write_text("".join(line + "\n" for line in kept))
