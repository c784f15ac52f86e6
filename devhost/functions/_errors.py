"""Why an app cannot be loaded: the import failed, the worker's indexing refused it, or one function broke a rule."""

from __future__ import annotations


class AppLoadError(Exception):
    """The app could not be imported or indexed. ``details`` holds the app's traceback when there is one."""

    def __init__(self, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message if not self.details else f"{self.message}\n{self.details}"


class FunctionLoadError(AppLoadError):
    """One function breaks a rule of the worker (its ``FunctionLoadError``, same wording) or of the host."""

    def __init__(self, function_name: str, message: str) -> None:
        super().__init__(f"cannot load the {function_name} function: {message}")
        self.function_name = function_name
