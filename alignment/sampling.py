"""Batched sampling from a policy: chat prompts in, token ids and text out.

Prompts are left-padded so every row's response starts at the same column; responses come back
right-padded, with a mask that covers each response up to and including its first EOS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from alignment.data import Message


@dataclass(frozen=True)
class Generation:
    """One sampled response: its prompt and response token ids, decoded text, and whether it hit EOS."""

    prompt_ids: list[int]
    response_ids: list[int]
    text: str
    finished: bool


@dataclass(frozen=True)
class Batch:
    """A padded rollout batch: ``[query | response]`` columns, query left-padded, response right-padded."""

    queries: torch.Tensor  # (B, Q) left-padded prompt ids
    query_mask: torch.Tensor  # (B, Q)
    responses: torch.Tensor  # (B, R) right-padded response ids
    response_mask: torch.Tensor  # (B, R) 1 up to and including the first EOS
    finished: torch.Tensor  # (B,) bool: the response ended with EOS

    @property
    def input_ids(self) -> torch.Tensor:
        return torch.cat([self.queries, self.responses], dim=1)

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.cat([self.query_mask, self.response_mask], dim=1)

    def response_lists(self) -> list[list[int]]:
        return [
            row[mask.bool()].tolist() for row, mask in zip(self.responses, self.response_mask, strict=True)
        ]


def batch_from_generations(generations: Sequence[Generation], pad_id: int) -> Batch:
    """Re-pad finished generations into a Batch (to score them with any model)."""
    queries, query_mask = left_pad([g.prompt_ids for g in generations], pad_id)
    width = max(max(len(g.response_ids) for g in generations), 1)
    responses = torch.full((len(generations), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(generations), width), dtype=torch.long)
    for i, g in enumerate(generations):
        responses[i, : len(g.response_ids)] = torch.tensor(g.response_ids, dtype=torch.long)
        mask[i, : len(g.response_ids)] = 1
    finished = torch.tensor([g.finished for g in generations])
    return Batch(queries, query_mask, responses, mask, finished)


def response_logits(model: Any, batch: Batch) -> torch.Tensor:
    """Logits predicting each response token (from the position before it): (B, R, V)."""
    device = next(model.parameters()).device
    input_ids, attention_mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    response_len = batch.responses.shape[1]
    # Only the last R + 1 positions are needed; the very last one predicts past the sequence.
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        logits_to_keep=response_len + 1,
    ).logits
    return logits[:, :-1].float()


def encode_prompt(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """Chat-template a conversation, ready for the assistant's turn."""
    ids = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
    if hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return list(ids)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids, mask


def response_mask(responses: torch.Tensor, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask covering each row up to and including its first EOS, and whether the row has one."""
    is_eos = responses == eos_id
    finished = is_eos.any(dim=1)
    # Tokens strictly after the first EOS: cumulative EOS count minus the EOS itself is positive.
    after = (is_eos.long().cumsum(dim=1) - is_eos.long()) > 0
    return (~after).long(), finished


@torch.no_grad()
def sample_batch(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    pad_id: int,
    eos_id: int,
    max_new_tokens: int,
    temperature: float = 1.0,
) -> Batch:
    """Generate one batch: greedy for ``temperature == 0``, else sampled from the full distribution."""
    from transformers import GenerationConfig

    device = next(model.parameters()).device
    queries, query_mask = left_pad(prompts, pad_id)
    queries, query_mask = queries.to(device), query_mask.to(device)
    sampling = temperature > 0
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        temperature=temperature if sampling else None,
        top_k=0 if sampling else None,
        top_p=1.0 if sampling else None,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
    )
    was_training = model.training
    model.eval()
    out = model.generate(input_ids=queries, attention_mask=query_mask, generation_config=config)
    model.train(was_training)
    responses = out[:, queries.shape[1] :]
    if responses.shape[1] == 0:  # max_new_tokens=0 or an immediate stop: keep one column for the shapes
        responses = torch.full((len(prompts), 1), eos_id, dtype=torch.long, device=device)
    mask, finished = response_mask(responses, eos_id)
    responses = responses.masked_fill(mask == 0, pad_id)
    return Batch(queries, query_mask, responses, mask.to(device), finished)


def generate(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Sequence[Message]],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    batch_size: int = 8,
    desc: str | None = None,
) -> list[Generation]:
    """Responses for many conversations, in order; batches are formed from similar-length prompts."""
    encoded = [encode_prompt(tokenizer, messages) for messages in conversations]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    results: dict[int, Generation] = {}
    bar = tqdm(total=len(encoded), desc=desc, disable=desc is None, unit="prompt")
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        batch = sample_batch(
            model,
            [encoded[i] for i in indices],
            pad_id=tokenizer.pad_token_id,
            eos_id=tokenizer.eos_token_id,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
        )
        for i, response, finished in zip(
            indices, batch.response_lists(), batch.finished.tolist(), strict=True
        ):
            text = tokenizer.decode(response, skip_special_tokens=True).strip()
            results[i] = Generation(encoded[i], response, text, bool(finished))
        bar.update(len(indices))
    bar.close()
    return [results[i] for i in range(len(encoded))]


def sample_each(
    model: Any,
    tokenizer: Any,
    records: Sequence[Mapping[str, Any]],
    *,
    n: int,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
    desc: str,
) -> list[Generation]:
    """``n`` responses to each prompt record's ``messages``: record i's are items ``i*n`` to ``i*n + n - 1``."""
    conversations = [record["messages"] for record in records for _ in range(n)]
    return generate(
        model,
        tokenizer,
        conversations,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        batch_size=batch_size,
        desc=desc,
    )
