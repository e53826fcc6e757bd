"""The checker registry: instruction type name -> pure checker ``(response, **params) -> bool``.

A check is a dict ``{"type": name, **params}``; ``run_check`` validates it against the checker's
signature and applies it. An empty (or whitespace-only) response passes no check.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from alignment.spec import behaviour_checks as behaviour
from alignment.spec import format_checks as fmt

Checker = Callable[..., bool]

CHECKERS: dict[str, Checker] = {
    "bullet_count": fmt.bullet_count,
    "numbered_list_count": fmt.numbered_list_count,
    "max_sentences": fmt.max_sentences,
    "max_words": fmt.max_words,
    "min_words": fmt.min_words,
    "concise": fmt.concise,
    "paragraph_count": fmt.paragraph_count,
    "json_only": fmt.json_only,
    "include_words": fmt.include_words,
    "exclude_words": fmt.exclude_words,
    "starts_with": fmt.starts_with,
    "ends_with": fmt.ends_with,
    "all_lowercase": fmt.all_lowercase,
    "all_uppercase": fmt.all_uppercase,
    "no_commas": fmt.no_commas,
    "title_in_double_angles": fmt.title_in_double_angles,
    "refuse": behaviour.refuse,
    "no_refusal": behaviour.no_refusal,
    "not_found": behaviour.not_found,
    "cite_sources": behaviour.cite_sources,
    "keep_role": behaviour.keep_role,
}


class SpecError(ValueError):
    """A check names no registered checker or carries parameters its checker does not take."""


@functools.cache
def _signature(name: str) -> inspect.Signature:
    """The checker's signature, looked up once per type."""
    return inspect.signature(CHECKERS[name])


def check_params(check: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a check dict and return its parameters (everything but ``type``)."""
    name = check.get("type")
    if not isinstance(name, str) or name not in CHECKERS:
        raise SpecError(f"unknown check type: {name!r}")
    params = {key: value for key, value in check.items() if key != "type"}
    try:
        _signature(name).bind("", **params)
    except TypeError as exc:
        raise SpecError(f"bad parameters for {name!r}: {exc}") from exc
    return params


def run_check(response: str, check: Mapping[str, Any]) -> bool:
    """Apply one check to a response, strictly (the response exactly as given)."""
    params = check_params(check)
    if not response.strip():
        return False
    return CHECKERS[check["type"]](response, **params)
