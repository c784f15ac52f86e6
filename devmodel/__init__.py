"""devmodel: a local OpenAI-compatible provider (Responses, Chat Completions, threads/runs).

Serve it with ``python -m devmodel serve --port 8199 --engine scripted|llama``, or from Python with
``DevModelProcess`` (child process) or ``create_app(build_provider(ServerConfig(...)))`` (in-process aiohttp app).
"""

from ._config import ServerConfig
from ._http import create_app
from ._process import DevModelProcess, DevModelStartError
from ._scenario import (
    FaultRule,
    Latency,
    Scenario,
    ScenarioBook,
    ScenarioError,
    load_scenarios,
    parse_scenarios,
)
from ._scripted import SCRIPTED_MODEL_ID, ScriptedEngine
from ._server import build_engine, build_provider, serve
from ._types import (
    Engine,
    EngineUnavailableError,
    Generation,
    GenerationRequest,
    HttpFault,
    Outcome,
    ProposedCall,
    ToolCallRecord,
    ToolChoice,
    ToolSpec,
    Turn,
)

__all__ = [
    "SCRIPTED_MODEL_ID",
    "DevModelProcess",
    "DevModelStartError",
    "Engine",
    "EngineUnavailableError",
    "FaultRule",
    "Generation",
    "GenerationRequest",
    "HttpFault",
    "Latency",
    "Outcome",
    "ProposedCall",
    "Scenario",
    "ScenarioBook",
    "ScenarioError",
    "ScriptedEngine",
    "ServerConfig",
    "ToolCallRecord",
    "ToolChoice",
    "ToolSpec",
    "Turn",
    "build_engine",
    "build_provider",
    "create_app",
    "load_scenarios",
    "parse_scenarios",
    "serve",
]
