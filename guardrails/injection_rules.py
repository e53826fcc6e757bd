"""A rule-based prompt-injection detector: instructions planted in text that try to steer the model."""

from __future__ import annotations

import re
from dataclasses import dataclass

from guardrails.base import Decision, GuardContext

_PRIOR = r"(?:all |any |the |your |my |these |those |every )*(?:previous|prior|above|earlier|preceding|original|initial|existing|old|current|system|safety)"
_RULES = r"(?:instructions?|directions?|directives?|rules?|guidelines?|prompts?|orders?|guidance|constraints?|programming|policies|policy)"
_AI = r"(?:ai|a\.i\.|assistant|chatbot|bot|llm|language model|model|agent|gpt|copilot|summari[sz]er|crawler|reader|screening tool|ai tool|analyst)s?"
_AI_STRICT = r"(?:ai|a\.i\.|assistant|chatbot|bot|llm|language model|ai model|ai agent|gpt|copilot|automated reader|ai system|ai tool|ai analyst|ai reviewer|evaluator model|grading assistant|triage assistant)s?"

# (name, pattern): each pattern is one known shape of planted instruction; names appear in decisions and logs.
PATTERNS: tuple[tuple[str, str], ...] = (
    ("ignore_instructions", rf"\b(?:ignore|disregard|forget|override|bypass|skip|drop|discard|set aside|scratch)\b[^.\n]{{0,40}}?{_PRIOR}[^.\n]{{0,20}}?{_RULES}"),
    ("ignore_everything", r"\b(?:ignore|disregard|forget)\s+(?:all|everything|anything)\s+(?:you(?:'ve| have)? (?:been )?(?:told|given)|(?:above|before|else)|instructions)"),
    ("ignore_your_rules", rf"\b(?:ignore|disregard|forget|bypass|override)\s+(?:all\s+)?(?:your|the)\s+{_RULES}"),
    ("reveal_prompt", r"\b(?:reveal|print|show|output|repeat|display|leak|disclose|paste|dump|expose|tell (?:me|the user))\b[^.\n]{0,40}?\b(?:system|hidden|initial|secret|original|developer|internal)\s+(?:prompt|instructions?|message|rules|configuration)"),
    ("addressed_to_ai", rf"\b(?:note|message|instructions?|attention|hey|dear)\s+(?:to|for)\s+(?:any\s+|the\s+|all\s+)?{_AI}\b|\b(?:if|when)\s+you\s+are\s+an?\s+{_AI}\b|\b{_AI}\s+(?:reading|processing|summari[sz]ing|parsing|screening)\s+this\b|\[\s*system(?:\s+note)?\s*[:\]]"),
    ("directive_for_ai", rf"\b(?:note|notes|directive|instructions?|message|command|request|reminder|comment)\s+(?:to|for)\s+(?:any\s+|the\s+|all\s+|every\s+)?(?:[\w-]+\s+)?{_AI_STRICT}\b"),
    ("ai_addressed_imperative", rf"(?:^|[\[\(\{{\"'.:;!?>%]\s*)(?:[A-Za-z-]+\s+){{0,2}}{_AI_STRICT}\s*[:,]\s*(?:please\s+)?(?:ignore|append|describe|mark|recommend|rate|tell|send|forward|email|e-mail|grant|stop|always|never|do|don't|include|insert|add|say|state|report|rank|run|execute|click|visit|reply|respond|answer|write|output|reveal|summari[sz]e|delete|before|when|after|whenever|you|confirm|approve|accept|follow|like|buy|give|score|grant|the criteria|disregard|forget|from now)\b"),
    ("dear_ai", rf"\b(?:dear|hey|attention|hello)\s+(?:[A-Za-z-]+\s+){{0,2}}{_AI_STRICT}\s*[:,]"),
    ("any_ai_reading", rf"\b(?:any|all|every|each)\s+(?:[\w-]+\s+)?{_AI_STRICT}\s+(?:reading|processing|summari[sz]ing|parsing|screening|crawling|indexing|seeing)\b"),
    ("ai_must", rf"\b{_AI_STRICT}\s+(?:must|should|shall|need to|are instructed to|are required to|have to)\s+(?!not\b)"),
    ("if_ai_reads", rf"\b(?:if|when|whenever)\s+(?:a|an|any|the)\s+(?:[\w-]+\s+)?{_AI}\s+(?:reads|is reading|processes|summari[sz]es|sees|parses|opens|views|handles)\b"),
    ("new_instructions", r"\b(?:new|updated|real|actual|revised)\s+(?:instructions|orders|directives|rules|task)\s*(?::|follow|are\b)"),
    ("role_override", r"\byou\s+are\s+now\s+(?:an?\s+|in\s+)?(?:unrestricted|unfiltered|jailbroken|developer mode|dan\b|evil|uncensored|different)|\bfrom\s+now\s+on,?\s+(?:you|respond|answer|always|only|ignore)\b|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|jailbroken)"),
    ("respond_only_with", r"\b(?:respond|reply|answer|say)\s+(?:only\s+)?with\s+(?:only\s+)?[\"'“]"),
    ("chat_markup", r"<\|(?:im_start|im_end|system|endoftext)\|>|^\s*(?:###\s*)?(?:system|assistant)\s*:\s", ),
    ("exfiltrate", r"\b(?:send|forward|email|e-mail|upload|post|exfiltrate)\b[^.\n]{0,60}?\b(?:conversation|chat history|user'?s?\s+(?:data|emails?|messages|details|files|password)|api keys?|credentials)\b"),
    ("do_not_tell", r"\b(?:do not|don't|never)\s+(?:mention|tell|reveal|inform)\b[^.\n]{0,30}?\b(?:the user|anyone|them)\b[^.\n]{0,20}?\b(?:this|that|about)\b"),
)


@dataclass
class InjectionRules:
    """Blocks text matching any known planted-instruction pattern (documents at retrieval, or user input)."""

    name: str = "injection_rules"
    action: str = "block"

    def __post_init__(self) -> None:
        self._compiled = [(name, re.compile(pattern, re.IGNORECASE | re.MULTILINE)) for name, pattern in PATTERNS]

    def matches(self, text: str) -> list[str]:
        """Names of the rules the text matches."""
        return [name for name, pattern in self._compiled if pattern.search(text)]

    async def check(self, subject: str, ctx: GuardContext) -> Decision:
        hits = self.matches(subject)
        if not hits:
            return Decision("allow", self.name)
        where = "a retrieved document" if ctx.stage == "retrieval" else f"the {ctx.stage}"
        return Decision(
            "block" if self.action == "block" else "escalate",
            self.name,
            category="prompt_injection",
            score=1.0,
            reason=f"planted instructions in {where} ({', '.join(hits)})",
        )
