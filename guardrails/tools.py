"""Tool permissions and Hermes-style tool calls: OpenAI ``tools`` / ``tool_choice`` in, ``tool_calls`` out.

A key's config may hold a ``tools:`` allowlist of function names. Client tools outside it are refused
(403) or dropped, per the tenant's config. The tools left are described to the model in a system
message; the model answers with ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks
(the Hermes format many small models are tuned on), which become OpenAI ``tool_calls`` once each call
names a tool the request offered and the key may use, with arguments valid for the tool's JSON schema.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guardrails.base import Decision
from guardrails.config import ToolsConfig
from guardrails.schema import schema_error

_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


class ToolNotPermitted(Exception):
    """The request offers a tool the key may not use (the gateway answers 403)."""


class InvalidToolChoice(ValueError):
    """``tool_choice`` names no offered tool, or tools are malformed (the gateway answers 400)."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # a JSON object, as text (OpenAI's wire form)
    id: str = ""

    def wire(self) -> dict[str, Any]:
        return {"id": self.id or f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class ToolPlan:
    """The tools a request may call and how: ``required`` (any call) or ``forced`` (this one)."""

    tools: tuple[dict[str, Any], ...]
    required: bool = False
    forced: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.tools)

    def names(self) -> list[str]:
        return [tool_name(t) for t in self.tools]

    def schema(self, name: str) -> dict[str, Any] | None:
        for tool in self.tools:
            if tool_name(tool) == name:
                return (tool.get("function") or {}).get("parameters")
        return None


def tool_name(tool: dict[str, Any]) -> str:
    function = tool.get("function") if isinstance(tool, dict) else None
    if tool.get("type", "function") != "function" or not isinstance(function, dict) or not function.get("name"):
        raise InvalidToolChoice("each tool must be {'type': 'function', 'function': {'name': ..., 'parameters': {...}}}")
    return str(function["name"])


def plan(tools: Sequence[dict[str, Any]] | None, tool_choice: Any, allowlist: Sequence[str] | None,
         config: ToolsConfig) -> ToolPlan:
    """Check the offered tools against the key's allowlist and resolve ``tool_choice``."""
    offered = list(tools or [])
    names = [tool_name(t) for t in offered]
    allowed = _allowed(allowlist, config)
    refused = [n for n in names if not allowed(n)]
    if refused and config.disallowed == "error":
        raise ToolNotPermitted(f"this key may not use the tool(s): {', '.join(refused)}")
    offered = [t for t, n in zip(offered, names, strict=True) if allowed(n)]
    if tool_choice in (None, "auto"):
        return ToolPlan(tuple(offered))
    if tool_choice == "none":
        return ToolPlan(())
    if tool_choice == "required":
        if not offered:
            raise InvalidToolChoice("tool_choice is 'required' but no usable tool was offered")
        return ToolPlan(tuple(offered), required=True)
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if name in refused:
            raise ToolNotPermitted(f"this key may not use the tool {name!r}")
        match = [t for t in offered if tool_name(t) == name]
        if not match:
            raise InvalidToolChoice(f"tool_choice names {name!r}, which is not among the offered tools")
        return ToolPlan(tuple(match), required=True, forced=name)
    raise InvalidToolChoice("tool_choice must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': ...}}")


def _allowed(allowlist: Sequence[str] | None, config: ToolsConfig):  # type: ignore[no-untyped-def]
    if allowlist is None:
        return lambda name: config.allow_by_default
    names = set(allowlist)
    return lambda name: "*" in names or name in names


def tools_prompt(tool_plan: ToolPlan) -> str:
    """The system message that offers the tools to the model, Hermes style."""
    specs = "\n".join(json.dumps(t.get("function", t), ensure_ascii=False) for t in tool_plan.tools)
    if tool_plan.forced:
        must = f"You must call the function {tool_plan.forced} now."
    elif tool_plan.required:
        must = "You must call one of these functions now."
    else:
        must = "Call a function only when it helps answer the user."
    return (
        "You can call functions. Their signatures, as JSON schema, are inside <tools></tools>:\n"
        f"<tools>\n{specs}\n</tools>\n{must} To call one, reply with a JSON object inside tags, exactly:\n"
        '<tool_call>\n{"name": "<function name>", "arguments": {<arguments as a JSON object>}}\n</tool_call>'
    )


def format_call(name: str, arguments: str) -> str:
    """An earlier assistant tool call, written back into the prompt the way the model writes it."""
    try:
        args: Any = json.loads(arguments or "{}")
    except ValueError:
        args = arguments
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': args}, ensure_ascii=False)}\n</tool_call>"


def format_response(content: str) -> str:
    return f"<tool_response>\n{content}\n</tool_response>"


def parse_calls(text: str) -> tuple[str | None, list[ToolCall], list[str]]:
    """Split a model reply into (content without the calls, calls, parse errors)."""
    calls: list[ToolCall] = []
    errors: list[str] = []
    for match in _CALL.finditer(text):
        try:
            body = json.loads(match.group(1))
            name = body["name"]
            arguments = body.get("arguments", body.get("parameters", {}))
            if isinstance(arguments, str):
                arguments = json.loads(arguments)
            calls.append(ToolCall(str(name), json.dumps(arguments, ensure_ascii=False)))
        except (ValueError, KeyError, TypeError) as exc:
            errors.append(f"a <tool_call> is not a JSON object with 'name' and 'arguments': {exc}")
    content = _CALL.sub("", text).strip()
    return (content or None), calls, errors


def check_call(call: ToolCall, tool_plan: ToolPlan) -> Decision:
    """Allow a parsed call only for an offered, permitted tool and arguments valid for its schema."""
    if call.name not in tool_plan.names():
        return Decision("block", "tools", category="tool_not_permitted", score=1.0,
                        reason=f"the model called {call.name!r}, which this request does not offer or this key may not use")
    try:
        arguments = json.loads(call.arguments)
    except ValueError as exc:
        return Decision("block", "tools", category="invalid_arguments", score=1.0, reason=f"arguments are not JSON: {exc}")
    schema = tool_plan.schema(call.name)
    error = schema_error(arguments, schema) if schema else None
    if error is None and not isinstance(arguments, dict):
        error = "arguments must be a JSON object"
    if error:
        return Decision("block", "tools", category="invalid_arguments", score=1.0, reason=f"{call.name}: {error}")
    return Decision("allow", "tools", category=call.name)
