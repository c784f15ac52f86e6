"""Offline wiring checks standing in for `bicep build` (no Bicep compiler can be installed on this machine):
every template parses, modules get the parameters they declare, referenced outputs exist, and the azd files
match main.bicep."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra._bicep import Template, property_chains
from tests.infra._paths import INFRA_DIR, MAIN_PARAMETERS, MAIN_TEMPLATE, bicep_files, rel

AZD_REFERENCE = re.compile(r"^\$\{(?P<var>[A-Z][A-Z0-9_]*)(?:=(?P<default>.*))?\}$")


def _module_target(main: Template, module: dict[str, Any], templates: dict[str, Template]) -> Template:
    target = (INFRA_DIR / module["detail"]["path"]).resolve()
    assert target.exists(), f"module file {module['detail']['path']} does not exist"
    return templates[rel(target)]


@pytest.mark.parametrize("path", bicep_files(), ids=rel)
def test_template_parses(path: Path, templates: dict[str, Template], parse_errors: dict[str, str]) -> None:
    assert rel(path) not in parse_errors, parse_errors.get(rel(path))
    assert rel(path) in templates


def test_modules_receive_exactly_the_parameters_they_declare(templates: dict[str, Template]) -> None:
    main = templates[rel(MAIN_TEMPLATE)]
    assert main.modules, "main.bicep declares no modules"
    problems: list[str] = []
    for symbol, module in main.modules.items():
        target = _module_target(main, module, templates)
        passed = set(main.module_config(symbol).get("params", {}))
        unknown = passed - set(target.parameters)
        missing = target.required_parameters() - passed
        if unknown:
            problems.append(f"{symbol} -> {target.path}: unknown parameters {sorted(unknown)}")
        if missing:
            problems.append(f"{symbol} -> {target.path}: required parameters not passed {sorted(missing)}")
    assert not problems, "\n".join(problems)


def test_referenced_module_outputs_exist(templates: dict[str, Template]) -> None:
    main = templates[rel(MAIN_TEMPLATE)]
    references = {
        chain[:3]
        for section in ("modules", "outputs", "variables")
        for chain in property_chains(main.section(section))
        if len(chain) >= 3 and chain[0] in main.modules and chain[1] == "outputs"
    }
    assert references, "main.bicep reads no module outputs: the walker found nothing"
    missing = [
        ".".join(ref)
        for ref in sorted(references)
        if ref[2] not in _module_target(main, main.modules[ref[0]], templates).outputs
    ]
    assert not missing, f"main.bicep reads outputs its modules do not declare: {missing}"


def test_parameters_file_matches_main_template(templates: dict[str, Template]) -> None:
    main = templates[rel(MAIN_TEMPLATE)]
    document = json.loads(MAIN_PARAMETERS.read_text())
    given: dict[str, Any] = {name: spec["value"] for name, spec in document["parameters"].items()}

    # ARM rejects a deployment whose parameters file names a parameter the template lacks.
    assert set(given) <= set(main.parameters), (
        f"unknown parameters: {sorted(set(given) - set(main.parameters))}"
    )
    assert main.required_parameters() <= set(given)

    mismatched: list[str] = []
    for name, value in given.items():
        match = AZD_REFERENCE.match(str(value))
        assert match, f"{name}: expected an azd ${{VAR}} or ${{VAR=default}} reference, got {value!r}"
        bicep_default = main.parameters[name].get("default")
        # azd always passes the value, so a fallback here silently overrides the Bicep default: keep them equal.
        if (
            match["default"] is not None
            and bicep_default is not None
            and match["default"] != str(bicep_default)
        ):
            mismatched.append(f"{name}: parameters file {match['default']!r} vs main.bicep {bicep_default!r}")
    assert not mismatched, "\n".join(mismatched)


def test_azure_yaml_deploys_the_python_function_app(azure_yaml: Any, templates: dict[str, Template]) -> None:
    api = azure_yaml["services"]["api"]
    assert (api["project"], api["language"], api["host"]) == (".", "python", "function")
    assert azure_yaml["infra"]["path"] == "infra" and azure_yaml["infra"]["module"] == "main"
    # azd finds the app to deploy by its azd-service-name tag.
    function_app = templates[rel(INFRA_DIR / "modules" / "function-app.bicep")]
    assert function_app.parameters["azdServiceName"]["default"] == "api"
    assert function_app.object_entries("serviceTag") == {"azd-service-name": "azdServiceName"}
