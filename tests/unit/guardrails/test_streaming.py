"""The hold-back filter: no released text ever carries a finding; blocks release nothing more."""

import re

from guardrails.base import Decision
from guardrails.config import StreamingConfig
from guardrails.stack import Verdict
from guardrails.streaming import HoldBackFilter, mask_spans

CARD = re.compile(r"\d{4}(?: \d{4}){3}")


async def fake_guards(text: str) -> Verdict:
    """Masks 16-digit cards, blocks the word FORBIDDEN; records nothing else."""
    if "FORBIDDEN" in text:
        return Verdict([text], [Decision("block", "fake", category="forbidden")])
    spans = tuple((m.start(), m.end(), "CREDIT_CARD") for m in CARD.finditer(text))
    return Verdict([text], [Decision("redact", "fake", spans=spans)] if spans else [])


async def run(pieces: list[str], **config) -> tuple[list[str], Decision | None]:
    hold = HoldBackFilter(fake_guards, StreamingConfig(**config))
    out = []
    for piece in pieces:
        release = await hold.feed(piece)
        if release.blocked:
            return out, release.blocked
        out.append(release.text)
    end = await hold.finish()
    return out + [end.text], end.blocked


def tokens(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


async def test_sentence_mode_releases_whole_sentences_masked():
    out, blocked = await run(tokens("Hello there. Your card 4111 1111 1111 1111 is on file. Bye now."))
    assert blocked is None
    assert "".join(out) == "Hello there. Your card <CREDIT_CARD> is on file. Bye now."
    assert out[:2] == ["", "Hello there."]  # released as soon as the sentence ended
    assert not any(re.search(r"\d{4}", piece) for piece in out)


async def test_chars_mode_never_releases_part_of_a_card_split_across_tokens():
    text = "Card number: 4111 1111 1111 1111 and more words follow here to flush the buffer out."
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]  # cuts through the digits
    out, _ = await run(pieces, hold_back="chars", chars=24)
    assert "".join(out) == "Card number: <CREDIT_CARD> and more words follow here to flush the buffer out."
    assert not any(re.search(r"\d", piece) for piece in out)


async def test_a_long_sentence_is_released_at_word_boundaries():
    out, _ = await run(tokens("word " * 200), max_hold_chars=100, chars=16)
    assert sum(1 for piece in out if piece) > 3
    assert "".join(out) == "word " * 200


async def test_a_block_releases_nothing_of_the_blocked_sentence():
    out, blocked = await run(tokens("All good here. Now the FORBIDDEN part follows. And more."))
    assert blocked is not None and blocked.category == "forbidden"
    assert "".join(out) == "All good here."


def test_mask_spans_merges_overlaps():
    assert mask_spans("abcdefghij", [(2, 6, "A"), (4, 9, "B")]) == "ab<A>j"
