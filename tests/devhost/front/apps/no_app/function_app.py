# A deliberately broken sample app (devhost must reject it); not type-checked.
# mypy: ignore-errors
import azure.functions as func

NOT_AN_APP = func.HttpResponse("x")
