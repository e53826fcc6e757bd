from gateway.backends.textstream import IncrementalText


class CharTokenizer:
    """Token id = a unicode code point; id 0xFFFD-ish partial bytes simulated with a lookup."""

    def __init__(self, pieces: dict[int, str] | None = None):
        self.pieces = pieces or {}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(self.pieces.get(i, chr(i)) for i in ids)


def feed(text: IncrementalText, s: str):
    out = []
    for ch in s:
        piece, stopped = text.push(ord(ch))
        out.append(piece)
        if stopped:
            return "".join(out), True
    return "".join(out) + text.finish(), False


def test_plain_text_is_emitted_as_it_comes():
    t = IncrementalText(CharTokenizer())
    assert t.push(ord("a")) == ("a", False)
    assert t.push(ord("b")) == ("b", False)


def test_stop_string_ends_text_before_it_across_tokens():
    text, stopped = feed(IncrementalText(CharTokenizer(), ["END"]), "hello ENDworld")
    assert (text, stopped) == ("hello ", True)


def test_prefix_of_stop_is_held_back_then_released():
    t = IncrementalText(CharTokenizer(), ["END"])
    assert t.push(ord("E")) == ("", False)
    assert t.push(ord("N")) == ("", False)
    assert t.push(ord("x")) == ("ENx", False)


def test_earliest_of_several_stops_wins():
    text, stopped = feed(IncrementalText(CharTokenizer(), ["zz", "b"]), "aabzz")
    assert (text, stopped) == ("aa", True)


def test_incomplete_utf8_is_held_until_complete():
    # token 1 decodes to a replacement char on its own; with token 2 the pair forms "é"
    class Pairing(CharTokenizer):
        def decode(self, ids, skip_special_tokens=True):
            s = "".join("\ufffd" if i == 1 else chr(i) for i in ids)
            return s.replace("\ufffd" + chr(2), "é")

    t = IncrementalText(Pairing())
    assert t.push(ord("a")) == ("a", False)
    assert t.push(1) == ("", False)
    assert t.push(2) == ("é", False)


def test_finish_flushes_held_text():
    t = IncrementalText(CharTokenizer(), ["END"])
    t.push(ord("x"))
    t.push(ord("E"))
    assert t.finish() == "E"
    assert t.text == "xE"
