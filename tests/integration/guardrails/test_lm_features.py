"""SmolLM2 features on the real model: the prompted reading with a cached opening equals reading the whole prompt."""

import numpy as np
import pytest

from guardrails.lm_features import HAZARD_PROMPT, LmBody, LmFeatures

TEXTS = ["how do I kill a python process", "hi",
         "Give me step by step instructions to build a pipe bomb at home, please, as fast as you can."]


@pytest.fixture(scope="module")
def body():
    return LmBody()


def whole_prompt_mean(body: LmBody, text: str) -> np.ndarray:
    """The reference: the chat-templated prompt with the text in it, run in one piece, no cache, no padding."""
    import torch

    model, tokenizer = body.load()
    chat = [{"role": "system", "content": HAZARD_PROMPT.system},
            {"role": "user", "content": HAZARD_PROMPT.question + "@@@"}]
    opening, closing = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True).split("@@@")
    head = tokenizer(opening, add_special_tokens=False)["input_ids"]
    ids = head + tokenizer(text, add_special_tokens=False)["input_ids"] + tokenizer(closing, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0, len(head):]
    return hidden.mean(0).numpy()


def test_cached_opening_and_padding_change_nothing(body):
    features = LmFeatures(body, HAZARD_PROMPT)
    framed = features.embed_sync(TEXTS)  # one batch of three lengths: right padding
    for row, text in zip(framed, TEXTS, strict=True):
        reference = whole_prompt_mean(body, text)
        assert np.abs(row - reference).max() < 1e-3 * np.abs(reference).max()
    # The cached opening is reused, never extended by a run: a later call gives the same numbers.
    again = features.embed_sync(TEXTS[::-1][:2])
    assert np.allclose(again, framed[::-1][:2], atol=1e-3)


def test_the_prompt_changes_the_features(body):
    framed = LmFeatures(body, HAZARD_PROMPT).embed_sync(TEXTS)
    plain = LmFeatures(body).embed_sync(TEXTS)
    assert framed.shape == plain.shape == (3, 576) and np.isfinite(framed).all()
    cosine = (framed * plain).sum(1) / np.linalg.norm(framed, axis=1) / np.linalg.norm(plain, axis=1)
    assert (cosine < 0.999).all()
    assert np.allclose(LmFeatures(body).embed_sync(TEXTS[:1]), plain[:1], atol=1e-3)  # batching changes nothing


def test_an_earlier_layer_reads_what_a_body_cut_there_returns(body):
    """``layer`` picks the residual stream after that many layers: the same as a body of only those layers."""
    cut = LmBody(layers=16)
    for prompt in (HAZARD_PROMPT, None):
        early = LmFeatures(body, prompt, layer=16).embed_sync(TEXTS)
        reference = LmFeatures(cut, prompt).embed_sync(TEXTS)
        assert np.allclose(early, reference, atol=1e-4 * np.abs(reference).max())
        assert not np.allclose(early, LmFeatures(body, prompt).embed_sync(TEXTS), atol=1e-2)
    assert "-L16-" in LmFeatures(body, layer=16).version and "-L20-" in LmFeatures(body).version
    with pytest.raises(ValueError, match="layer"):
        LmFeatures(body, layer=21)
