"""Built-in topic lexicons: weighted phrases that together say "this text is about X".

A single weak phrase ("stock", "kill the process") should not block anything; several, or one
strong one, should. Weights are tuned so that a threshold of 1.0 fires on one explicit phrase
(weight >= 1.0) or on a few suggestive ones. They are deliberately conservative and are meant
to be extended per deployment (``topics: {name: {phrases: {...}}}``) or backed by a model-based
``Moderator`` where recall matters more than determinism.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

__all__ = ["BUILTIN_TOPICS", "TOPIC_ALIASES"]

_HATE: dict[str, float] = {
    "hate speech": 1.0, "subhuman": 0.8, "vermin": 0.5, "inferior race": 1.0,
    "master race": 0.8, "racial purity": 0.8, "ethnic cleansing": 1.0,
    "should be exterminated": 1.0,
    "should be wiped out": 1.0, "don't deserve to live": 1.0, "go back to your country": 0.8,
    "go back where you came from": 0.8, "are animals": 0.5, "are parasites": 0.7,
    "are a disease": 0.6, "white power": 0.8, "genocide is justified": 1.0,
    "all immigrants are": 0.6, "all muslims are": 0.6, "all jews are": 0.6,
    "all christians are": 0.6, "all blacks are": 0.6, "all whites are": 0.6, "all gays are": 0.6,
    "all women are": 0.4, "all men are": 0.3, "racial slur": 0.6, "hate group": 0.5,
    "dehumanize": 0.4, "degenerates": 0.4, "gas the": 0.8, "lynch": 0.6,
}  # fmt: skip
_INVESTMENT: dict[str, float] = {
    "investment advice": 1.0, "financial advice": 0.8, "should i buy": 0.5, "should i sell": 0.5,
    "which stock": 0.5, "which stocks": 0.5, "what stocks": 0.5, "stock tip": 0.8,
    "stock tips": 0.8,
    "stock picks": 0.7, "buy shares": 0.5, "sell shares": 0.5, "price target": 0.4,
    "guaranteed returns": 0.8, "guaranteed return": 0.8, "portfolio allocation": 0.6,
    "allocate my portfolio": 0.8, "rebalance my portfolio": 0.7, "invest in": 0.4,
    "invest my": 0.5, "my savings": 0.3, "my 401k": 0.5, "retirement savings": 0.4,
    "crypto to buy": 0.8, "buy bitcoin": 0.5, "options trading": 0.4, "day trading": 0.4,
    "short the stock": 0.7, "short selling": 0.4, "will the stock go up": 0.8,
    "is it a good time to buy": 0.6, "best etf": 0.6, "index fund": 0.3, "dividend stocks": 0.5,
    "penny stocks": 0.6, "stock": 0.2, "stocks": 0.2, "shares": 0.15, "portfolio": 0.2,
    "returns": 0.1, "market": 0.1,
}  # fmt: skip
_SELF_HARM: dict[str, float] = {
    "kill myself": 1.0, "killing myself": 1.0, "end my life": 1.0, "ending my life": 1.0,
    "take my own life": 1.0, "suicide": 0.6, "suicidal": 0.7, "want to die": 0.8,
    "self-harm": 0.7, "self harm": 0.7, "cut myself": 0.9, "cutting myself": 0.9,
    "hurt myself": 0.7, "overdose": 0.5, "no reason to live": 0.8, "better off dead": 0.9,
    "how many pills": 0.6, "painless way to die": 1.0, "hang myself": 1.0,
}  # fmt: skip
_VIOLENCE: dict[str, float] = {
    "kill him": 0.8, "kill her": 0.8, "kill them": 0.8, "murder": 0.5, "shoot up": 0.8,
    "mass shooting": 0.7, "stab": 0.4, "beat him up": 0.7, "beat her up": 0.7, "torture": 0.5,
    "make a bomb": 1.0, "build a bomb": 1.0, "pipe bomb": 1.0, "blow up": 0.5, "massacre": 0.6,
    "behead": 0.8, "assassinate": 0.8, "hurt them": 0.5, "attack them": 0.5, "violent attack": 0.6,
    "terrorist attack": 0.7, "kidnap": 0.6, "weapon": 0.2, "gun": 0.2,
}  # fmt: skip
_MEDICAL: dict[str, float] = {
    "medical advice": 1.0, "diagnose me": 0.9, "diagnose my": 0.8, "what dose": 0.6,
    "what dosage": 0.6, "how much should i take": 0.6, "should i stop taking": 0.8,
    "prescribe": 0.5, "prescription": 0.3, "symptoms": 0.3, "treatment for": 0.4,
    "is it cancer": 0.8, "do i have": 0.3, "side effects": 0.3, "mg of": 0.4, "milligrams": 0.3,
    "antibiotics": 0.3, "my doctor": 0.2, "medication": 0.3, "chest pain": 0.4, "rash": 0.2,
}  # fmt: skip

BUILTIN_TOPICS: Final = MappingProxyType(
    {
        "hate speech": MappingProxyType(_HATE),
        "investment advice": MappingProxyType(_INVESTMENT),
        "self-harm": MappingProxyType(_SELF_HARM),
        "violence": MappingProxyType(_VIOLENCE),
        "medical advice": MappingProxyType(_MEDICAL),
    }
)
"""Topic name -> phrase -> weight. Threshold 1.0 unless a policy says otherwise."""

TOPIC_ALIASES: Final = MappingProxyType(
    {
        "hate": "hate speech",
        "hate-speech": "hate speech",
        "financial advice": "investment advice",
        "investment": "investment advice",
        "self harm": "self-harm",
        "selfharm": "self-harm",
        "suicide": "self-harm",
        "violent content": "violence",
        "medical": "medical advice",
        "health advice": "medical advice",
    }
)
