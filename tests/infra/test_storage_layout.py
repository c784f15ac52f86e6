"""The tables and containers main.bicep creates are the ones the app names in its public storage constants."""

from __future__ import annotations

import importlib

from tests.infra._bicep import Template
from tests.infra._paths import MAIN_TEMPLATE, rel

# Packages whose public API (__all__) exports the app's table and container names.
APP_STORAGE_PACKAGES = ("durable_assistant.store", "durable_assistant.tools")


def _exported(suffix: str) -> set[str]:
    names: set[str] = set()
    for package in APP_STORAGE_PACKAGES:
        module = importlib.import_module(package)
        for attribute in getattr(module, "__all__", []):
            value = getattr(module, attribute)
            if attribute.endswith(suffix) and isinstance(value, str):
                names.add(value)
    return names


def test_app_tables_are_created(templates: dict[str, Template]) -> None:
    tables = _exported("_TABLE")
    assert tables, "the app exports no *_TABLE constant any more: update APP_STORAGE_PACKAGES"
    deployed = {
        name.lower() for name in templates[rel(MAIN_TEMPLATE)].parameters["storageTableNames"]["default"]
    }
    # Table names are case-insensitive in Azure Table storage.
    assert {name.lower() for name in tables} <= deployed


def test_app_containers_are_created(templates: dict[str, Template]) -> None:
    containers = _exported("_CONTAINER")
    assert containers, "the app exports no *_CONTAINER constant any more: update APP_STORAGE_PACKAGES"
    assert containers <= set(templates[rel(MAIN_TEMPLATE)].parameters["storageContainerNames"]["default"])
