"""The grounding output guard: citation parsing and the configured action."""

import pytest

from guardrails.base import GuardContext
from guardrails.grounding import GroundingGuard, check_citations, cited_numbers


def test_citation_forms():
    assert cited_numbers("Yes [2]. Also [1, 3] and [3][4]; see [12].") == [2, 1, 3, 4, 12]
    assert cited_numbers("no brackets here, only a list [a]") == []


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("The flood excess is $1,000 [1].", "cited"),
        ("The flood excess is $1,000.", "uncited"),
        ("See [4] for details.", "invalid_citation"),
        ("Both [1] and [9] say so.", "invalid_citation"),
        ("Sorry, that is not found in the sources.", "not_found"),
    ],
)
def test_statuses(text, status):
    assert check_citations(text, sources=3).status == status


async def test_actions_follow_config():
    ctx = GuardContext("output", "acme", sources=2)
    assert (await GroundingGuard().check("Covered [1].", ctx)).action == "allow"
    flagged = await GroundingGuard().check("Covered.", ctx)
    assert (flagged.action, flagged.category) == ("escalate", "uncited")
    blocked = await GroundingGuard(action="block").check("Covered [3].", ctx)
    assert (blocked.action, blocked.category) == ("block", "invalid_citation") and "[3]" in blocked.reason
    assert (await GroundingGuard(action="block").check("anything", GuardContext("output", sources=0))).action == "allow"
