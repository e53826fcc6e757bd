"""The SFT training chat template renders exactly like SmolLM2's own and masks assistant tokens only."""

from __future__ import annotations

import pytest

from alignment import models

CONVERSATIONS = [
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello there."}],
    [
        {"role": "system", "content": "You are Quill."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d\nwith two lines"},
    ],
    [{"role": "user", "content": "only a question"}],
]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return models.load_tokenizer(str(tiny_model_dir))


@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_training_template_renders_like_the_model_template(tokenizer, messages, add_generation_prompt):
    template = models.training_chat_template(tokenizer)
    assert "{% generation %}" in template
    kwargs = {"tokenize": False, "add_generation_prompt": add_generation_prompt}
    assert tokenizer.apply_chat_template(
        messages, chat_template=template, **kwargs
    ) == tokenizer.apply_chat_template(messages, **kwargs)


def test_assistant_mask_covers_answers_and_their_end_token_only(tokenizer):
    out = tokenizer.apply_chat_template(
        CONVERSATIONS[1],
        chat_template=models.training_chat_template(tokenizer),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    kept = [token for token, keep in zip(out["input_ids"], out["assistant_masks"], strict=True) if keep]
    assert tokenizer.decode(kept) == "b<|im_end|>d\nwith two lines<|im_end|>"
