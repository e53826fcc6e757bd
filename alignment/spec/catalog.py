"""The behaviour-spec catalog: templates, topics, hazards, grounding documents and personas from YAML."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "data" / "spec"
SPLITS = ("train", "dev")
SOURCE_FILES = ("templates", "topics", "hazards", "grounding", "personas")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_DOUBLE_STOP = re.compile(r'([.?!:])"\.')


@dataclass(frozen=True)
class Catalog:
    """Everything the generator draws from, as loaded from ``<source>/<name>.yaml``."""

    templates: dict[str, Any]
    topics: dict[str, list[str]]
    hazards: dict[str, Any]
    grounding: dict[str, Any]
    personas: dict[str, Any]

    @classmethod
    def load(cls, source: Path = DEFAULT_SOURCE) -> Catalog:
        """Read the five YAML files of a catalog directory."""
        texts = {name: (source / f"{name}.yaml").read_text(encoding="utf-8") for name in SOURCE_FILES}
        return cls(**{name: yaml.safe_load(text) for name, text in texts.items()})

    def primary_types(self) -> list[str]:
        """Formatting instruction types that head a prompt, in file order."""
        return list(self.templates["primary"])


def fill(template: str, **values: str) -> str:
    """Substitute ``{name}`` placeholders; unknown names raise, literal braces elsewhere are kept."""

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(substitute, template)


def quoted_list(items: list[str]) -> str:
    """Render ["a", "b", "c"] as '"a", "b" and "c"'."""
    quoted = [f'"{item}"' for item in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def facts_schema(n: int) -> dict[str, Any]:
    """JSON schema of {"topic": string, "facts": exactly n strings}."""
    return {
        "type": "object",
        "required": ["topic", "facts"],
        "properties": {
            "topic": {"type": "string"},
            "facts": {"type": "array", "items": {"type": "string"}, "minItems": n, "maxItems": n},
        },
    }


def render_instruction(
    catalog: Catalog,
    kind: str,
    text: str,
    spec: dict[str, Any],
    rng: random.Random,
    topic: str,
    taken: set[str],
) -> tuple[str, dict[str, Any]]:
    """Fill one instruction template for ``topic``; return the text and its check.

    ``taken`` holds include/exclude words already used by the prompt, so the two never clash.
    """
    pools = catalog.templates["pools"]
    values: dict[str, str] = {"topic": topic}
    check: dict[str, Any] = {"type": kind}
    if "{n}" in text or (kind == "concise" and "n" in spec):
        n = rng.choice(spec["n"])
        values["n"] = str(n)
        if kind == "json_only":
            check["schema"] = facts_schema(n)
        else:
            check["n"] = n
    if kind in ("include_words", "exclude_words"):
        free = [word for word in pools[kind] if word not in taken]
        words = rng.sample(free, rng.choice([1, 2]))
        taken.update(words)
        values["words"] = quoted_list(words)
        check["words"] = words
    if kind in ("starts_with", "ends_with"):
        check["phrase"] = values["phrase"] = rng.choice(pools[kind])
    if "{keys}" in text:
        keys = list(rng.choice(pools["json_keys"]))
        values["keys"] = quoted_list(keys)
        check["required_keys"] = keys
    # A quoted phrase that ends in punctuation needs no extra full stop after its closing quote.
    return _DOUBLE_STOP.sub(r'\1"', fill(text, **values)), check
