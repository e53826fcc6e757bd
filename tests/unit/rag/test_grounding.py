"""Threshold logic, context building and the grounder's retrieval guards (fake retriever)."""

from pathlib import Path

from guardrails.base import Decision, GuardContext
from rag.config import RagSettings, wanted
from rag.grounding import INSTRUCTION, Grounder, context_message, select
from tests.unit.rag.conftest import FakeRetriever, clause


def test_select_keeps_chunks_at_or_above_the_threshold_best_first():
    chunks = [clause("B", "b.", 0.30), clause("A", "a.", 0.60), clause("C", "c.", 0.42)]
    kept, dropped = select(chunks, 0.42)
    assert [c.source_id for c in kept] == ["A", "C"]
    assert [(c.source_id, why) for c, why in dropped] == [("B", "below_threshold")]
    assert select([], 0.1) == ([], [])


def test_context_numbers_sources_and_tells_the_model_to_cite():
    text = context_message([clause("HOME-2.3", "Flood. Excess $1,000.", 0.7), clause("HOME-2.4", "Leak. Trace it.", 0.6)])
    assert text.startswith(INSTRUCTION)
    assert "not found in the sources" in INSTRUCTION and "[1]" in INSTRUCTION
    assert "[1] HOME-2.3 Flood. Excess $1,000." in text and "[2] HOME-2.4 Leak. Trace it." in text


async def test_grounder_drops_irrelevant_and_planted_chunks(handbook_chunks):
    seen = []
    grounder = Grounder(
        RagSettings(top_k=4, min_score=0.42), Path("/nonexistent"), FakeRetriever({"acme": handbook_chunks}),
        on_decision=lambda d, stage, s: seen.append((d.guard, stage, d.action)),
    )
    grounding = await grounder.ground("flood excess?", "acme")
    assert [c.source_id for c in grounding.sources] == ["HOME-2.3", "HOME-2.4"]
    assert sorted((c.source_id, why) for c, why in grounding.dropped) == [
        ("GEN-9.9", "guard:injection_rules"), ("PAY-1.1", "below_threshold")
    ]
    assert ("injection_rules", "retrieval", "block") in seen
    assert grounding.tenant == "acme" and grounding.retrieved == 4 and not grounding.not_found
    citations = grounding.citations()
    assert citations[0] == {"source_id": 1, "clause": "HOME-2.3", "title": "Flood", "uri": "kb.md#HOME-2.3", "score": 0.71}


async def test_nothing_relevant_means_not_found(handbook_chunks):
    grounder = Grounder(RagSettings(min_score=0.9), Path("/x"), FakeRetriever({"acme": handbook_chunks}))
    assert (await grounder.ground("pets?", "acme")).not_found
    assert (await Grounder(RagSettings(), Path("/x"), FakeRetriever()).ground("q", "nobody")).not_found


class Redactor:
    name = "redactor"

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        assert ctx.stage == "retrieval"
        return Decision("redact", self.name, replacement=subject.replace("$1,000", "[AMOUNT]"))


async def test_redacting_guards_replace_the_text(handbook_chunks):
    grounder = Grounder(RagSettings(top_k=1), Path("/x"), FakeRetriever({"t": handbook_chunks}), guards=[Redactor()])
    grounding = await grounder.ground("q", "t")
    assert "[AMOUNT]" in grounding.sources[0].text and "$1,000" not in grounding.context_message()


def test_who_decides_whether_a_request_is_grounded():
    assert wanted(False, None, None) is False and wanted(True, None, None) is True
    assert wanted(False, None, True) is True and wanted(True, None, False) is False
    assert wanted(False, True, None) is True and wanted(True, False, None) is False
    assert wanted(False, "required", False) is True
    assert wanted(True, "off", True) is False
