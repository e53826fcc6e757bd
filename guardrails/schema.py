"""``response_format`` checks on output: JSON mode and JSON-schema mode (the pipeline re-asks once on failure)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from guardrails.base import Action, Decision, GuardContext

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


def parse_json(text: str) -> Any:
    """The JSON value of a reply; a reply wrapped in one Markdown code fence is accepted too."""
    fenced = _FENCE.match(text)
    return json.loads(fenced.group(1) if fenced else text)


def response_format_error(text: str, response_format: dict[str, Any] | None) -> str | None:
    """Why ``text`` does not satisfy ``response_format`` (OpenAI's wire shape), or None when it does."""
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    try:
        value = parse_json(text)
    except ValueError as exc:
        return f"the reply is not valid JSON: {exc}"
    if kind == "json_object":
        return None if isinstance(value, dict) else "the reply must be a JSON object"
    schema = ((response_format or {}).get("json_schema") or {}).get("schema")
    return schema_error(value, schema) if schema else None


def schema_error(value: Any, schema: dict[str, Any]) -> str | None:
    """The first JSON-schema violation of ``value`` (with its path), or None."""
    import jsonschema

    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    except jsonschema.exceptions.SchemaError as exc:
        return f"the schema itself is invalid: {exc.message}"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"at {where}: {error.message}"


@dataclass
class ResponseFormatGuard:
    """Escalates replies that do not match the request's ``response_format`` (``ctx.extra["response_format"]``)."""

    action: Action = "escalate"
    name: str = "response_format"
    scope: str = "last_user"

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        if ctx.extra.get("partial"):  # a streamed segment: only the whole reply can be judged
            return Decision("allow", self.name)
        error = response_format_error(subject, ctx.extra.get("response_format"))
        if error is None:
            return Decision("allow", self.name)
        return Decision(self.action, self.name, category="invalid_format", score=1.0, reason=error)
