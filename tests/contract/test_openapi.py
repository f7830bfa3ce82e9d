"""docs/openapi.json is generated from the route table, models and views; it must be current."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from orgapi.contract.routes import ROUTES

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("openapi_generator", ROOT / "scripts" / "openapi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_document_is_current():
    committed = (ROOT / "docs" / "openapi.json").read_text()
    assert committed == _generator().render(), "run: PYTHONPATH=layers/common python scripts/openapi.py"


def test_every_route_is_documented_with_its_permission():
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["operationId"] == route.name
        assert operation["x-required-permission"] == route.permission
        assert operation["security"] == [{"bearer": []}]
    assert document["paths"]["/health"]["get"]["security"] == []


def test_document_is_valid_openapi():
    from openapi_spec_validator import validate

    validate(json.loads((ROOT / "docs" / "openapi.json").read_text()))
