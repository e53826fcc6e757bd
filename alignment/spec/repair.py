"""Repairs: rewrite a sampled response so that it follows a prompt's formatting checks.

Rejection sampling keeps the policy's samples that pass every check; most fail on form alone (a
paragraph asked for as three bullets, capitals where lowercase was asked). A repair reshapes the
sample's own sentences into the asked form, and only a repaired response that then passes every check
strictly (``alignment.spec.score``) becomes a demonstration (``alignment/demos.py``).

Each repairer is pure: ``(response: str, topic: str, **params) -> str | None``; ``None`` means the
check cannot be met by reshaping (a word count the sample is too short for). Behaviour checks (refuse,
no_refusal, not_found, cite_sources, keep_role) and content checks (include_words, min_words) have no
repairer: the sample has to pass them as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alignment.spec.checkers import run_check
from alignment.spec.format_checks import contains_phrase, count_words, split_sentences
from alignment.spec.scoring import score, strip_emphasis

Repairer = Callable[..., "str | None"]

_MARKUP_LINE = re.compile(r"^[ \t]*(?:#+[ \t]*|[-*•][ \t]+|\d+[.)][ \t]+|>[ \t]*)", re.MULTILINE)
_TITLE = re.compile(r"<<[^<>\n]*>>")


def sentences_of(response: str) -> list[str]:
    """The response's sentences as plain prose: no headings, list markers, emphasis or titles."""
    plain = _MARKUP_LINE.sub("", strip_emphasis(_TITLE.sub("", response)))
    found = []
    for sentence in split_sentences(plain):
        sentence = sentence.strip()
        if sentence.endswith(":") or count_words(sentence) < 3:
            continue  # "Here are three facts:" and stray fragments do not carry content
        found.append(sentence if sentence[-1] in ".!?" else sentence + ".")
    return found


def _as_lines(response: str, n: int, marker: Callable[[int], str]) -> str | None:
    sentences = sentences_of(response)
    if len(sentences) < n:
        return None
    return "\n".join(f"{marker(i)}{sentence}" for i, sentence in enumerate(sentences[:n]))


def bullets(response: str, topic: str, n: int) -> str | None:
    """The first ``n`` sentences as markdown bullets and nothing else."""
    return _as_lines(response, n, lambda _: "- ")


def numbered(response: str, topic: str, n: int) -> str | None:
    """The first ``n`` sentences as a numbered list and nothing else."""
    return _as_lines(response, n, lambda i: f"{i + 1}. ")


def paragraphs(response: str, topic: str, n: int) -> str | None:
    """The sentences dealt into ``n`` paragraphs of as even a size as they allow."""
    sentences = sentences_of(response)
    if len(sentences) < n:
        return None
    size, extra = divmod(len(sentences), n)
    parts, start = [], 0
    for index in range(n):
        end = start + size + (1 if index < extra else 0)
        parts.append(" ".join(sentences[start:end]))
        start = end
    return "\n\n".join(parts)


def json_document(
    response: str,
    topic: str,
    required_keys: Sequence[str] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> str | None:
    """The sentences as a JSON object: the facts schema's topic and n facts, or one per required key."""
    sentences = sentences_of(response)
    value: dict[str, Any] = {}
    if schema is not None and "facts" in schema.get("properties", {}):
        n = int(schema["properties"]["facts"].get("minItems", 3))
        if len(sentences) < n:
            return None
        value = {"topic": topic, "facts": sentences[:n]}
    for index, key in enumerate(required_keys or ()):
        if index >= len(sentences):
            return None
        value.setdefault(key, topic if key in ("name", "title") else sentences[index])
    return json.dumps(value, ensure_ascii=False) if value else None


def _trim(response: str, fits: Callable[[str], bool]) -> str | None:
    """Drop whole sentences from the end (prose only) until ``fits`` holds; None if none is left."""
    if fits(response):
        return response
    if "\n" in response.strip():
        return None  # a list, paragraphs or JSON: trimming would break the asked shape
    sentences = split_sentences(response)
    while sentences:
        sentences.pop()
        text = " ".join(sentences)
        if sentences and fits(text):
            return text
    return None


def at_most_words(response: str, topic: str, n: int = 40, reserve: str = "") -> str | None:
    """Whole sentences from the start, as many as fit in ``n`` words beside ``reserve`` (text still to
    be added: a title, an opening or closing phrase)."""
    room = n - count_words(reserve)
    return _trim(response, lambda text: count_words(text) <= room)


def at_most_sentences(response: str, topic: str, n: int, reserve: str = "") -> str | None:
    """The first sentences, as many as fit in ``n`` beside those of ``reserve``."""
    room = n - len(split_sentences(reserve))
    return _trim(response, lambda text: len(split_sentences(text)) <= room)


def without_words(response: str, topic: str, words: Sequence[str]) -> str | None:
    """Prose without the sentences that use any of ``words``."""
    if "\n" in response.strip():
        return response if not any(contains_phrase(response, w) for w in words) else None
    kept = [s for s in split_sentences(response) if not any(contains_phrase(s, w) for w in words)]
    return " ".join(kept) or None


def with_title(response: str, topic: str) -> str:
    """A <<Title>> line naming the topic, above the response."""
    return f"<<{topic[:1].upper() + topic[1:]}>>\n\n{response}"


def with_start(response: str, topic: str, phrase: str) -> str:
    return f"{phrase} {response}"


def with_end(response: str, topic: str, phrase: str) -> str:
    return f"{response.rstrip()} {phrase}" if "\n" not in response.strip() else f"{response.rstrip()}\n\n{phrase}"


def without_commas(response: str, topic: str) -> str:
    return re.sub(r"\s*[,，]\s*", " ", response).replace("  ", " ")


def lowercase(response: str, topic: str) -> str:
    return response.lower()


def uppercase(response: str, topic: str) -> str:
    return response.upper()


# Applied in this order: shape first (it rebuilds the text from sentences), then length and content,
# then the phrases around it, and case and commas last so they cover the added phrases too.
REPAIRERS: dict[str, Repairer] = {
    "json_only": json_document,
    "bullet_count": bullets,
    "numbered_list_count": numbered,
    "paragraph_count": paragraphs,
    "exclude_words": without_words,
    "max_sentences": at_most_sentences,
    "max_words": at_most_words,
    "concise": at_most_words,
    "title_in_double_angles": with_title,
    "starts_with": with_start,
    "ends_with": with_end,
    "no_commas": without_commas,
    "all_lowercase": lowercase,
    "all_uppercase": uppercase,
}
_ORDER = {name: index for index, name in enumerate(REPAIRERS)}
_LENGTH = ("max_sentences", "max_words", "concise")


def _added_text(response: str, checks: Sequence[Mapping[str, Any]], topic: str) -> str:
    """What the phrase and title repairs will add to ``response``: length repairs leave room for it."""
    added = []
    for check in checks:
        name = check["type"]
        if name in ("starts_with", "ends_with") and not run_check(response, check):
            added.append(str(check["phrase"]))
        elif name == "title_in_double_angles" and not run_check(response, check):
            added.append(with_title("", topic).strip())
    return "\n".join(added)


def repair(response: str, checks: Sequence[Mapping[str, Any]], topic: str) -> str | None:
    """``response`` reshaped to pass every check strictly, or None when it cannot be.

    A response that already passes is returned unchanged; phrase checks (starts_with, ends_with) and
    the title are only added when missing.
    """
    if not response.strip():
        return None
    if score(response, checks)[0]:
        return response
    text: str | None = response
    for check in sorted(checks, key=lambda c: _ORDER.get(str(c["type"]), len(_ORDER))):
        name = str(check["type"])
        if text is None:
            return None
        if name not in REPAIRERS or run_check(text, check):
            continue
        params = {key: value for key, value in check.items() if key != "type"}
        if name in _LENGTH:
            params["reserve"] = _added_text(text, checks, topic)
        text = REPAIRERS[name](text, topic, **params)
    if text is None or not score(text, checks)[0]:
        return None
    return text
