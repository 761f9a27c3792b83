"""The JSON Schema of dialplan files, generated from the pydantic node models."""

from __future__ import annotations

from typing import Any

from ivr.model import DialplanFile

SCHEMA_ID = "https://santral.invalid/schemas/dialplan.schema.json"


def dialplan_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) that editors use to check dialplans."""
    schema = DialplanFile.model_json_schema(by_alias=True, mode="validation")
    schema["$id"] = SCHEMA_ID
    schema["title"] = "santral dialplan"
    return schema
