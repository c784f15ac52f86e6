# A deliberately broken sample app (devhost must reject it); not type-checked.
# mypy: ignore-errors
import azure.functions as func
from broken_helper import load_settings

app = func.FunctionApp()
SETTINGS = load_settings()
