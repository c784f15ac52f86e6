"""Bicep templates as data, parsed by checkov's own Bicep parser (pycep) inside .venv-tools.

No Bicep compiler can be installed here (it ships as a binary download), so these helpers give the tests a
structured view of the templates to assert wiring on: module parameters and outputs, app settings, defaults.
pycep renders an expression as nested dicts: ``{"function": {"type", "parameters"}}`` for calls,
``{"operator": {"type", "operands"}}`` for operators (conditional, property_accessor, ...); any other dict is an
object literal. Identifiers and string literals both come out as plain strings.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra._paths import REPO_ROOT, TOOLS_PYTHON, rel, require_tools

# Runs under .venv-tools/bin/python (pycep and PyYAML are checkov dependencies, not the app's).
_DUMP_SCRIPT = """
import json, pathlib, sys
import yaml
from pycep import BicepParser

out = {"bicep": {}, "errors": {}, "yaml": {}}
parser = BicepParser()  # building the grammar is the slow part: one parser for every file
for arg in sys.argv[1:]:
    path = pathlib.Path(arg)
    if path.suffix == ".bicep":
        try:
            out["bicep"][arg] = parser.parse(file_path=path)
        except Exception as exc:
            out["errors"][arg] = f"{type(exc).__name__}: {exc}"
    else:
        out["yaml"][arg] = yaml.safe_load(path.read_text())
json.dump(out, sys.stdout, default=str)
"""


@dataclass(frozen=True)
class Template:
    """One parsed Bicep file."""

    path: str
    """Repo-relative path."""
    tree: dict[str, Any]
    """pycep's JSON: globals, parameters, variables, resources, modules, outputs."""

    def section(self, name: str) -> dict[str, Any]:
        value = self.tree.get(name) or {}
        assert isinstance(value, dict)
        return value

    @property
    def parameters(self) -> dict[str, Any]:
        return self.section("parameters")

    @property
    def variables(self) -> dict[str, Any]:
        return self.section("variables")

    @property
    def resources(self) -> dict[str, Any]:
        return self.section("resources")

    @property
    def modules(self) -> dict[str, Any]:
        return self.section("modules")

    @property
    def outputs(self) -> dict[str, Any]:
        return self.section("outputs")

    def module_config(self, symbol: str) -> dict[str, Any]:
        """A module's body (name, scope, params, ...), also for ``module x '...' = if (cond) {...}``."""
        config: dict[str, Any] = self.modules[symbol]["config"]
        if "condition" in config and isinstance(config.get("config"), dict):
            inner: dict[str, Any] = config["config"]
            return inner
        return config

    def required_parameters(self) -> set[str]:
        # pycep reports a parameter without a default as "default": null.
        return {name for name, spec in self.parameters.items() if spec.get("default") is None}

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res.get("type") == resource_type}

    def object_entries(self, expr: Any) -> dict[str, Any]:
        """Every key an object expression can have, with its value expression.

        Follows variables, ``union(...)`` and both branches of ``cond ? a : b``, so a setting that is only present
        under a condition still counts as wired.
        """
        return self._entries(expr, frozenset())

    def array_items(self, expr: Any) -> list[Any]:
        """Every item an array expression can hold: follows variables, ``concat(...)`` and both branches of
        ``cond ? a : b``."""
        return self._items(expr, frozenset())

    def _items(self, expr: Any, seen: frozenset[str]) -> list[Any]:
        if isinstance(expr, list):
            return list(expr)
        if isinstance(expr, str) and expr in self.variables and expr not in seen:
            return self._items(self.variables[expr]["value"], seen | {expr})
        if isinstance(expr, dict) and set(expr) == {"function"} and expr["function"].get("type") == "concat":
            return [
                item
                for arg in expr["function"].get("parameters", {}).values()
                for item in self._items(arg, seen)
            ]
        if (
            isinstance(expr, dict)
            and set(expr) == {"operator"}
            and expr["operator"].get("type") == "conditional"
        ):
            operands = expr["operator"]["operands"]
            return self._items(operands["true_value"], seen) + self._items(operands["false_value"], seen)
        return []

    def _entries(self, expr: Any, seen: frozenset[str]) -> dict[str, Any]:
        if isinstance(expr, str):
            if expr in self.variables and expr not in seen:
                return self._entries(self.variables[expr]["value"], seen | {expr})
            return {}
        if not isinstance(expr, dict):
            return {}
        if set(expr) == {"function"}:
            call = expr["function"]
            if call.get("type") != "union":
                return {}
            merged: dict[str, Any] = {}
            for arg in call.get("parameters", {}).values():
                merged.update(self._entries(arg, seen))
            return merged
        if set(expr) == {"operator"}:
            op = expr["operator"]
            if op.get("type") != "conditional":
                return {}
            operands = op["operands"]
            return {
                **self._entries(operands["true_value"], seen),
                **self._entries(operands["false_value"], seen),
            }
        return {key.strip("'"): value for key, value in expr.items()}


def parse_files(paths: list[Path]) -> tuple[dict[str, Template], dict[str, Any], dict[str, str]]:
    """Parse Bicep and YAML files in one tools-venv process: (templates, yaml documents, parse errors)."""
    require_tools()
    proc = subprocess.run(
        [str(TOOLS_PYTHON), "-c", _DUMP_SCRIPT, *(rel(p) for p in paths)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"the Bicep parser crashed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    dumped = json.loads(proc.stdout)
    templates = {path: Template(path=path, tree=tree) for path, tree in dumped["bicep"].items()}
    return templates, dumped["yaml"], dumped["errors"]


def property_chains(expr: Any) -> list[tuple[str, ...]]:
    """Every ``a.b.c`` accessor chain in an expression, e.g. ('storage', 'outputs', 'name')."""
    chains: list[tuple[str, ...]] = []
    if isinstance(expr, dict):
        op = expr.get("operator") if set(expr) == {"operator"} else None
        if isinstance(op, dict) and op.get("type") == "property_accessor":
            chain = _chain(expr)
            if chain:
                chains.append(chain)
                return chains
        for value in expr.values():
            chains += property_chains(value)
    elif isinstance(expr, list):
        for item in expr:
            chains += property_chains(item)
    return chains


def _chain(expr: Any) -> tuple[str, ...] | None:
    if isinstance(expr, str):
        return (expr,)
    if (
        isinstance(expr, dict)
        and set(expr) == {"operator"}
        and expr["operator"].get("type") == "property_accessor"
    ):
        operands = expr["operator"]["operands"]
        head = _chain(operands["operand_1"])
        tail = _chain(operands["operand_2"])
        if head is None or tail is None:
            return None
        return head + tail
    return None
