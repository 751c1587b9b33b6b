"""Do council answers agree? Pluggable tests, and the quorum search.

Answers are compared after normalisation (case, punctuation, white space).
`exact`: normalised texts are equal. `tokenset`: the Jaccard similarity of the
word sets is at least a threshold. A quorum is k answers that all agree with
one of them (the group's representative).
"""

from __future__ import annotations

import re
from collections.abc import Callable

Agreement = Callable[[str, str], bool]
_PUNCTUATION = re.compile(r"[^\w\s]")


def normalise(text: str) -> str:
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def exact() -> Agreement:
    return lambda a, b: normalise(a) == normalise(b)


def tokenset(threshold: float = 0.8) -> Agreement:
    def similar(a: str, b: str) -> bool:
        left, right = set(normalise(a).split()), set(normalise(b).split())
        if not left and not right:
            return True
        return len(left & right) / len(left | right) >= threshold

    return similar


AGREEMENTS: dict[str, Callable[[float], Agreement]] = {
    "exact": lambda threshold: exact(),
    "tokenset": tokenset,
}


def majority(answers: dict[str, str], agree: Agreement) -> tuple[str, list[str]] | None:
    """The answer most members agree with (ties: the first in `answers` order) and who agreed."""
    best: tuple[str, list[str]] | None = None
    for name, text in answers.items():
        group = [other for other, other_text in answers.items() if agree(text, other_text)]
        if best is None or len(group) > len(best[1]):
            best = (name, group)
    return best


def quorum_group(answers: dict[str, str], agree: Agreement, quorum: int) -> list[str]:
    """The names of `quorum` or more members whose answers agree, or [] when none do yet."""
    best = majority(answers, agree)
    return best[1] if best and quorum > 0 and len(best[1]) >= quorum else []
