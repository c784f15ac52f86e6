# A deliberately broken sample app (devhost must reject it); not type-checked.
# mypy: ignore-errors
import azure.functions as func

app = func.FunctionApp()


@app.route(route="things/{id:nonsense}")
def things(req: func.HttpRequest) -> str:
    return "x"


@app.route(route="extra")
def extra(req: func.HttpRequest, unknown_param: str) -> str:
    return "x"
