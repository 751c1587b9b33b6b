"""Remedies: the actions wfdoctor's own causes recommend, per server implementation, as data.

The triage rules name their actions in YAML; the causes computed in Python
(analyze/bottleneck.py, council.py, leaks.py) name a remedy instead, and the
remedy (in a rule file's `remedies:` section) says which actions fit which
server: a serialising Ollama needs OLLAMA_NUM_PARALLEL, a serialising
llama-cpp-python needs more processes. A user rule file replaces a remedy by
its id, like a rule or an action.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, field_validator

from wfdoctor.config.yamlfile import Strict

from wfdoctor.model import WfdoctorError

DEFAULT = "default"


class Remedy(Strict):
    """Action ids per server implementation; `default` for every implementation not named."""

    id: str
    actions: dict[str, list[str]]

    @field_validator("actions")
    @classmethod
    def _has_default(cls, actions: dict[str, list[str]]) -> dict[str, list[str]]:
        if DEFAULT not in actions:
            raise ValueError(f"needs a '{DEFAULT}' list (for servers not named)")
        return actions


class Remedies(BaseModel):
    """Every remedy in force, by id (a later file's remedy replaced an earlier one of the same id)."""

    model_config = ConfigDict(frozen=True)
    by_id: dict[str, Remedy]

    def actions(self, remedy_id: str, implementation: str) -> list[str]:
        """The actions for a server implementation, else the remedy's default list."""
        remedy = self.by_id[remedy_id]
        return list(remedy.actions.get(implementation, remedy.actions[DEFAULT]))

    def require(self, remedy_ids: Iterable[str], where: str) -> None:
        """Fail in one line naming the first remedy the code uses that no rule file defines."""
        for remedy_id in remedy_ids:
            if remedy_id not in self.by_id:
                raise WfdoctorError(f"{where}: remedy '{remedy_id}' is used by wfdoctor's causes but defined in "
                                    "no rules file")
