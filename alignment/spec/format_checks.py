"""Formatting checkers of the behaviour spec: lists, lengths, case, punctuation, JSON, fixed phrases.

Every checker is pure: ``(response: str, **params) -> bool``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jsonschema

_BULLET = re.compile(r"^[ \t]*[-*•][ \t]+\S", re.MULTILINE)
_NUMBERED = re.compile(r"^[ \t]*\d+[.)][ \t]+\S", re.MULTILINE)
_WORD = re.compile(r"\w+(?:['’-]\w+|(?<=\d)[.,]\d+)*")
# A sentence ends at . ! or ? (optionally followed by closing quotes or brackets) plus whitespace,
# or at a line break: each bullet or heading line counts as its own sentence.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"'”’)\]]*[ \t]+|\n+")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "mr.", "mrs.", "ms.", "dr.", "st.", "no.", "approx.")
_DOT_STANDIN = "\u2024"
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_TITLE = re.compile(r"<<[^<>\n]*\w[^<>\n]*>>")


def normalize_quotes(text: str) -> str:
    """Replace typographic apostrophes and quotes with their ASCII forms."""
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')


def count_words(text: str) -> int:
    """Number of words (letters/digits, keeping inner apostrophes and hyphens, and decimals whole)."""
    return len(_WORD.findall(text))


def split_sentences(text: str) -> list[str]:
    """Split text into sentences; common abbreviations and decimals do not end one."""
    protected = text
    for abbreviation in _ABBREVIATIONS:
        pattern = re.compile(r"(?<!\w)" + re.escape(abbreviation), re.IGNORECASE)
        protected = pattern.sub(lambda m: m.group(0).replace(".", _DOT_STANDIN), protected)
    parts = _SENTENCE_BREAK.split(protected)
    return [part.replace(_DOT_STANDIN, ".").strip() for part in parts if re.search(r"\w", part)]


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words, case-insensitively."""
    words = normalize_quotes(phrase).split()
    if not words:
        return False
    body = r"\s+".join(re.escape(word) for word in words)
    return re.search(r"(?<!\w)" + body + r"(?!\w)", normalize_quotes(text), re.IGNORECASE) is not None


def bullet_count(response: str, n: int) -> bool:
    """Exactly ``n`` markdown bullet lines ("- ", "* " or "• " at line start)."""
    return len(_BULLET.findall(response)) == n


def numbered_list_count(response: str, n: int) -> bool:
    """Exactly ``n`` numbered list lines ("1. " or "1) " at line start)."""
    return len(_NUMBERED.findall(response)) == n


def max_sentences(response: str, n: int) -> bool:
    """At most ``n`` sentences."""
    return len(split_sentences(response)) <= n


def max_words(response: str, n: int) -> bool:
    """At most ``n`` words."""
    return count_words(response) <= n


def min_words(response: str, n: int) -> bool:
    """At least ``n`` words."""
    return count_words(response) >= n


def concise(response: str, n: int = 40) -> bool:
    """A short answer: at most ``n`` words (40 unless the check says otherwise)."""
    return count_words(response) <= n


def paragraph_count(response: str, n: int) -> bool:
    """Exactly ``n`` paragraphs, separated by blank lines."""
    paragraphs = [part for part in _PARAGRAPH_BREAK.split(response.strip()) if part.strip()]
    return len(paragraphs) == n


def json_only(
    response: str,
    required_keys: Sequence[str] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> bool:
    """The whole response parses as JSON, has ``required_keys`` and validates against ``schema``."""
    try:
        value = json.loads(response)
    except ValueError:
        return False
    if required_keys and not (isinstance(value, dict) and all(key in value for key in required_keys)):
        return False
    if schema is None:
        return True
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)  # a malformed schema is a bug in the check: raise
    return bool(validator_class(schema).is_valid(value))


def include_words(response: str, words: Sequence[str]) -> bool:
    """Every word (or phrase) in ``words`` appears, case-insensitively, on word boundaries."""
    return all(contains_phrase(response, word) for word in words)


def exclude_words(response: str, words: Sequence[str]) -> bool:
    """No word (or phrase) in ``words`` appears, case-insensitively, on word boundaries."""
    return not any(contains_phrase(response, word) for word in words)


def starts_with(response: str, phrase: str) -> bool:
    """The response begins with ``phrase`` (case-insensitive, leading whitespace ignored)."""
    head = normalize_quotes(response.lstrip()).lower()
    return head.startswith(normalize_quotes(phrase.strip()).lower())


def ends_with(response: str, phrase: str) -> bool:
    """The response ends with ``phrase`` (case-insensitive, trailing whitespace ignored)."""
    tail = normalize_quotes(response.rstrip()).lower()
    return tail.endswith(normalize_quotes(phrase.strip()).lower())


def all_lowercase(response: str) -> bool:
    """Has letters and none of them is uppercase."""
    return any(char.isalpha() for char in response) and response == response.lower()


def all_uppercase(response: str) -> bool:
    """Has letters and none of them is lowercase."""
    return any(char.isalpha() for char in response) and response == response.upper()


def no_commas(response: str) -> bool:
    """No comma (ASCII or full-width) anywhere."""
    return "," not in response and "，" not in response


def title_in_double_angles(response: str) -> bool:
    """Carries a title wrapped in double angular brackets, like <<A Title>>."""
    return _TITLE.search(response) is not None
