"""Every `--json` document has a JSON Schema generated from its document class, shipped with the package.

Real output is validated against these schemas wherever a test reads a command's
JSON (`CliResult.json()` in conftest.py).
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.conftest import SCHEMAS, validate_document
from wfdoctor.surface.views.schemas import DOCUMENTS, file_name, rendered

COMMANDS_WITH_JSON = {"diagnose", "tokens", "council", "memory-watch", "memory-profile", "memory-models",
                      "regress-check", "regress-show", "regress-record", "history", "recover", "alerts", "guide",
                      "troubleshoot", "compare"}
COMMANDS_WITH_JSON |= {"incidents-list", "incidents-show", "incidents-import", "incidents-exported",
                       "incidents-export"}   # incidents-export: the file `incidents export` writes
COMMANDS_WITH_JSON |= {"report"}
COMMANDS_WITH_JSON |= {"capacity"}   # tokens --capacity


def test_the_shipped_schemas_are_what_the_document_classes_generate() -> None:
    stale = [name for name, text in rendered().items()
             if not (SCHEMAS / name).is_file() or (SCHEMAS / name).read_text() != text]
    assert not stale, f"run `.venv/bin/python scripts/gen_schemas.py` (stale: {stale})"
    assert sorted(path.name for path in SCHEMAS.glob("*.json")) == sorted(rendered())


def test_every_command_with_json_has_a_schema() -> None:
    assert {schema_id.removeprefix("wfdoctor.").split("/")[0] for schema_id in DOCUMENTS} == COMMANDS_WITH_JSON


@pytest.mark.parametrize("schema_id", sorted(DOCUMENTS))
def test_each_schema_is_valid_draft_2020_12(schema_id: str) -> None:
    schema = json.loads((SCHEMAS / file_name(schema_id)).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == schema_id


def test_a_document_with_a_renamed_field_is_rejected(wfdoctor, tmp_path) -> None:
    wfdoctor("regress", "record", str(_results(tmp_path)))
    document = wfdoctor("regress", "check", "--json").json()
    document["series_renamed"] = document.pop("series")
    with pytest.raises(jsonschema.ValidationError):
        validate_document(document)


def test_record_show_and_history_print_documents_that_match_their_schemas(wfdoctor, tmp_path) -> None:
    recorded = wfdoctor("regress", "record", str(_results(tmp_path)), "--json").json()
    assert recorded["schema"] == "wfdoctor.regress-record/v1" and recorded["points"] == 12
    shown = wfdoctor("regress", "show", "wf_llm_decode_tokens_per_second", "--json").json()
    assert shown["schema"] == "wfdoctor.regress-show/v1" and len(shown["series"][0]["values"]) == 12
    runs = wfdoctor("history", "--json").json()
    assert runs[0]["command"] == "regress record"


def _results(tmp_path):
    path = tmp_path / "r.csv"
    rows = [f"{1_790_000_000 + 3600 * i},wf_llm_decode_tokens_per_second,{40 + (i % 3)},rev{i}" for i in range(12)]
    path.write_text("timestamp,metric,value,revision\n" + "\n".join(rows) + "\n")
    return path
