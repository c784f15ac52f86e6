# A deliberately broken sample app (devhost must reject it); not type-checked.
# mypy: ignore-errors
import azure.functions as func

app = func.FunctionApp()


@app.route(route="typed")
def typed(req: func.TimerRequest) -> str:
    return "x"
