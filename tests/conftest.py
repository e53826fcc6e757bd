"""Shared fixtures. Models are cached under $KEEL_HOME/models (default ~/.cache/keel); keys live in tmp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from gateway.auth import KeyStore  # noqa: E402
from gateway.settings import Settings  # noqa: E402


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    return tmp_path / "keys.yaml"


@pytest.fixture
def settings(tmp_path: Path, keys_file: Path) -> Settings:
    return Settings.load(None, keys_file=keys_file, model="tiny-random")


@pytest.fixture
def user_key(keys_file: Path) -> str:
    key, _ = KeyStore(keys_file).add("acme", ["user"])
    return key


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    from alignment import registry

    return registry.resolve("tiny-random")
