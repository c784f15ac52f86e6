# A deliberately broken sample app (devhost must reject it); not type-checked.
# mypy: ignore-errors
import azure.durable_functions as df

app = df.DFApp()


@app.orchestration_trigger(context_name="ctx")
def orchestrator(ctx: df.DurableOrchestrationContext):
    return None
