"""Load a YAML file into a pydantic model, reporting errors as file:line: field.

Data files (tiers, rules, actions) are edited by hand, so an error must point
at the line to fix. PyYAML's composed node tree keeps line marks; pydantic's
error location is a path of keys and indices; walking one with the other gives
the line of the field at fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from wfdoctor.config.textfile import read_text
from wfdoctor.model import WfdoctorError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A hand-edited data file's section: unknown keys are errors (a typo must not be ignored), values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # `.inf` is never a setting
# libyaml's loader parses ten times faster (the registry, facts and rules are read by every
# command); it reports the same line marks. PyYAML without libyaml falls back to Python's.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse a file into plain data and its node tree (for line lookups)."""
    text = read_text(path, "data file")
    try:
        node = yaml.compose(text, Loader=LOADER)
        data = yaml.load(text, Loader=LOADER)  # noqa: S506 (a safe loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        context = ""
        if exc.context and exc.context_mark and exc.problem_mark:
            context = f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise WfdoctorError(f"{path}{line}: invalid YAML: {exc.problem or exc.context}{context}") from None
    except yaml.YAMLError as exc:  # the reader's: a control character, a bad encoding mark
        raise WfdoctorError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    return data, node


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest entry that `loc` reaches in the tree.

    A mapping entry is placed at its key, so a bad or unknown block (a key
    followed by an indented mapping) is reported where its name is written.
    """
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def describe_validation_error(path: Path, node: yaml.Node | None, exc: ValidationError,
                              prefix: tuple[Any, ...] = ()) -> str:
    """One line: where the first error is and what is wrong with it.

    `prefix` is where the validated data sits in the file, when only part of it
    was validated (e.g. one tier's limit overrides).
    """
    first = exc.errors()[0]
    loc = prefix + tuple(first["loc"])
    field = ".".join(str(part) for part in loc) or "(top level)"
    line = line_of(node, loc)
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: field '{field}': {first['msg']}"


def validate(path: Path, data: Any, node: yaml.Node | None, model: type[M]) -> M:
    """Validate already-parsed data, with file:line errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise WfdoctorError(describe_validation_error(path, node, exc)) from None


def load_model(path: Path, model: type[M]) -> M:
    """Read and validate one YAML file into `model`."""
    data, node = read_yaml(path)
    return validate(path, data, node, model)
