"""Padding and response masks used by sampling, PPO and eval."""

from __future__ import annotations

import torch

from alignment.sampling import Generation, batch_from_generations, left_pad, response_mask


def test_response_mask_covers_up_to_and_including_the_first_eos():
    mask, finished = response_mask(torch.tensor([[5, 2, 7, 2], [5, 6, 7, 8], [2, 2, 2, 2]]), eos_id=2)
    assert mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]
    assert finished.tolist() == [True, False, True]


def test_left_pad():
    ids, mask = left_pad([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_batch_from_generations_left_pads_prompts_and_right_pads_responses():
    batch = batch_from_generations(
        [Generation([1, 2], [3, 9], "a", True), Generation([4], [5], "b", False)], pad_id=0
    )
    assert batch.input_ids.tolist() == [[1, 2, 3, 9], [0, 4, 5, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1], [0, 1, 1, 0]]
    assert batch.response_lists() == [[3, 9], [5]]
