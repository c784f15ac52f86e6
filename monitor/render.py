"""Server-side HTML: jinja2 templates (autoescaped) with the stylesheet and the small live-refresh script inlined,
so a page is one response, needs no other route, and works offline."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

_HERE = Path(__file__).parent


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["css"] = Markup((_HERE / "static" / "monitor.css").read_text())
    env.globals["js"] = Markup((_HERE / "static" / "monitor.js").read_text())
    return env


class Links:
    """Monitor URLs under the request's own route prefix, carrying its ``?code=`` key so the next page opens too."""

    def __init__(self, url: str, params: Mapping[str, str]) -> None:
        path = urlsplit(url).path
        cut = path.lower().find("/monitor")
        self.base = path[: cut + len("/monitor")] if cut >= 0 else "/api/monitor"
        self.code = params.get("code")

    def __call__(self, path: str = "", **query: Any) -> str:
        return self._with_query(self.base + path, query)

    def api(self, path: str) -> str:
        """An API route (``/conversations/...``) under the same prefix, with the page's key: what the page's
        buttons post to."""
        return self._with_query(self.base.removesuffix("/monitor") + path, {})

    def _with_query(self, url: str, query: dict[str, Any]) -> str:
        params = {k: v for k, v in query.items() if v is not None}
        if self.code:
            params["code"] = self.code
        return url + ("?" + urlencode(params) if params else "")


def render(template: str, links: Links, **context: Any) -> str:
    return _environment().get_template(template).render(link=links, **context)
