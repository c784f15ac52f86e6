# A deliberately broken sample app (devhost must reject it); not type-checked.
# mypy: ignore-errors
def load_settings() -> dict:
    return {"model": MISSING_SETTING_NAME}  # noqa: F821 - the deliberate import-time failure
