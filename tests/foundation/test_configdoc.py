"""docs/config.md is generated from the pydantic models and current; `hft schema` is a JSON Schema
that the shipped configs and specs satisfy (checked with the jsonschema library)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from hft.backtest.config import RunConfig
from hft.cli import app
from hft.configdoc import _sub, config_markdown
from hft.sweep.spec import SweepSpec

ROOT = Path(__file__).resolve().parents[2]


def test_config_reference_is_current():
    assert (ROOT / "docs" / "config.md").read_text() == config_markdown(), (
        "docs/config.md is stale: python -m hft.configdoc > docs/config.md"
    )


def _undocumented(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, f in model.model_fields.items():
        if not f.description:
            out.append(prefix + name)
        sub = _sub(f.annotation)
        if sub is not None:
            out += _undocumented(sub, f"{prefix}{name}.")
    return out


@pytest.mark.parametrize("model", [RunConfig, SweepSpec])
def test_every_key_has_a_meaning(model):
    assert _undocumented(model) == []


@pytest.mark.parametrize(("kind", "folder"), [("run", "configs"), ("sweep", "sweeps")])
def test_schema_command_validates_the_shipped_files(kind, folder, tmp_path):
    res = CliRunner().invoke(app, ["schema", kind])
    assert res.exit_code == 0, res.output
    schema = json.loads(res.output)
    assert {"data", "strategy", "execution"} <= set(schema["properties"])
    files = sorted((ROOT / folder).glob("*.yaml"))
    assert files
    for f in files:
        doc = json.loads(json.dumps(yaml.safe_load(f.read_text()), default=str))  # dates as strings
        jsonschema.validate(doc, schema)
    bad = json.loads(json.dumps(yaml.safe_load(files[0].read_text()), default=str))
    bad["execution"]["size"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    out = tmp_path / "s.json"
    assert CliRunner().invoke(app, ["schema", kind, "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == schema
