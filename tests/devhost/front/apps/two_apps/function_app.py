# A deliberately broken sample app (devhost must reject it); not type-checked.
# mypy: ignore-errors
import azure.durable_functions as df
import azure.functions as func

app = func.FunctionApp()
other = df.DFApp()
