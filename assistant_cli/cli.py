"""``assistant``: chat with a running Durable Assistant app and read its conversations.

    assistant chat                          new conversation, interactive (type /quit or Ctrl-D to leave)
    assistant chat -c ID                    resume a conversation
    assistant chat -m "..." [-m "..."]      send these messages and exit (also: lines on stdin)
    assistant history ID                    print a conversation's transcript
    assistant conversations                 list conversations, newest first

Options before the command: --url (DURABLE_ASSISTANT_URL, default http://127.0.0.1:7071) and --key
(DURABLE_ASSISTANT_KEY, the function key where the app enforces keys). --json prints JSON for scripts.
Exit codes: 0 ok, 1 a turn failed, 2 bad usage, 3 app unreachable (or not this app), 4 key refused,
5 unknown conversation, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from assistant_cli.client import TERMINAL, ApiRefused, AppClient, CliError
from assistant_cli.phases import describe, pending_approvals, phase_of

DEFAULT_URL = "http://127.0.0.1:7071"
QUIT_COMMANDS = frozenset({"/quit", "/exit", "/q"})


@dataclass
class TurnOutcome:
    conversation_id: str
    content: str
    turn: int | None = None
    message_id: str | None = None
    instance_id: str | None = None
    runtime_status: str | None = None
    status: str | None = None
    answer: str | None = None
    error: str | None = None
    phases: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.runtime_status == "Completed" and self.status in (None, "completed") and self.error is None

    def to_json(self) -> dict[str, Any]:
        """camelCase, like the app's API."""
        fields = {k: v for k, v in asdict(self).items() if k != "content"}
        return {"ok": self.ok, **{_camel(k): v for k, v in fields.items()}}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class Ui:
    """Where things go: in --json mode stdout carries JSON lines only and nothing animates."""

    json_mode: bool
    out: Console
    err: Console

    @staticmethod
    def emit_json(value: Any) -> None:
        """One JSON document per line on stdout (rich would wrap long lines)."""
        sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        if not self.json_mode:
            self.err.print(text, highlight=False, soft_wrap=True)  # URLs stay whole for copying

    def progress(self, elapsed: float, line: str) -> None:
        """One phase line, cut to the terminal's width (a long runId must not wrap the display)."""
        if not self.json_mode:
            text = Text(f"  {elapsed:6.2f}s  ", style="dim") + Text(line)
            text.truncate(self.err.width, overflow="ellipsis")
            self.err.print(text, no_wrap=True, overflow="ellipsis")

    def fit(self, line: str) -> str:
        """A spinner caption that fits on one line next to the spinner."""
        room = max(self.err.width - 4, 20)
        return line if len(line) <= room else line[: room - 1] + "…"

    @contextlib.contextmanager
    def spinner(self, text: str) -> Iterator[Any]:
        if self.json_mode:
            yield None
        else:
            with self.err.status(escape(text), spinner="dots") as status:
                yield status


def watch_turn(client: AppClient, ui: Ui, conversation_id: str, content: str, timeout: float,
               interval: float = 0.25) -> TurnOutcome:
    """Send one message and follow its orchestration to the end, showing each new phase as it appears."""
    outcome = TurnOutcome(conversation_id, content)
    started = time.monotonic()
    try:
        accepted = client.send(conversation_id, content)
    except ApiRefused as exc:
        outcome.error = f"the app refused the message ({exc.status} {exc.code}): {exc}"
        return outcome
    outcome.turn, outcome.message_id = accepted.get("turn"), accepted.get("messageId")
    outcome.instance_id = accepted.get("id")
    status_url = str(accepted["statusQueryGetUri"])
    last_line, approvals_shown = "", ""
    with ui.spinner(f"turn {outcome.turn}: sent") as spinner:
        while True:
            status = client.status(status_url)
            elapsed = time.monotonic() - started
            if status is not None:
                custom = status.get("customStatus")
                phase = phase_of(custom)
                if phase and (not outcome.phases or outcome.phases[-1] != phase):
                    outcome.phases.append(phase)
                line = describe(custom)
                if line and line != last_line:
                    ui.progress(elapsed, line)
                    if spinner is not None:
                        spinner.update(escape(ui.fit(f"turn {outcome.turn}: {line}")))
                    last_line = line
                approvals = pending_approvals(custom)
                if approvals and json.dumps(approvals) != approvals_shown:
                    show_approvals(ui, approvals)
                    approvals_shown = json.dumps(approvals)
                if status.get("runtimeStatus") in TERMINAL:
                    _finish(outcome, status)
                    break
            if elapsed > timeout:
                outcome.error = (f"turn {outcome.turn} still running after {timeout:.0f} s; it goes on at the app: "
                                 f"{status_url}")
                break
            time.sleep(interval)
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome


def show_approvals(ui: Ui, approvals: list[dict[str, Any]]) -> None:
    """Pending tool calls the app holds for a person's decision (customStatus.pendingApprovals)."""
    ui.note("  [bold yellow]waiting for approval:[/]")
    for item in approvals:
        name = item.get("name") or item.get("tool") or "tool call"
        args = item.get("arguments")
        ui.note(f"    • {escape(str(name))} {escape(args if isinstance(args, str) else json.dumps(args))}")
    # Deciding from here needs the app's approval routes (issue 10); until then the turn waits for them.
    ui.note("    [dim]approve or deny them through the app's approval API; this CLI shows them only[/]")


def _finish(outcome: TurnOutcome, status: dict[str, Any]) -> None:
    outcome.runtime_status = str(status.get("runtimeStatus"))
    output = status.get("output")
    if isinstance(output, dict):
        outcome.status = output.get("status")
        outcome.answer = output.get("answer")
        if outcome.runtime_status != "Completed" or outcome.status not in (None, "completed"):
            outcome.error = str(output.get("error") or output.get("reason") or outcome.status)
    elif outcome.runtime_status != "Completed":
        outcome.error = str(output) if output else outcome.runtime_status


def print_outcome(ui: Ui, outcome: TurnOutcome) -> None:
    if ui.json_mode:
        ui.emit_json(outcome.to_json())
        return
    if outcome.ok:
        ui.out.print(Text("assistant › ", style="bold green") + Text(outcome.answer or ""))
        ui.note(f"  [dim]turn {outcome.turn} · {outcome.seconds:.2f} s[/]")
    else:
        ui.err.print(Text("turn failed: ", style="bold red") + Text(outcome.error or "unknown error"))


def _messages_from_stdin() -> Iterator[str]:
    for line in sys.stdin:
        if line.strip():
            yield line.rstrip("\n")


def _interactive(ui: Ui) -> Iterator[str]:
    while True:
        try:
            line = ui.err.input("[bold cyan]you ›[/] ")
        except EOFError:
            ui.note("")
            return
        text = line.strip()
        if not text:
            continue
        if text in QUIT_COMMANDS:
            return
        yield text


def cmd_chat(client: AppClient, ui: Ui, args: argparse.Namespace) -> int:
    if args.conversation:
        conv = client.conversation(args.conversation)
        conversation_id = args.conversation
        ui.note(f"conversation [bold]{conversation_id}[/] (resumed, {conv.get('turnsAccepted', 0)} turn(s) so far)")
    else:
        conversation_id = client.create_conversation()
        ui.note(f"conversation [bold]{conversation_id}[/] (new)")
    ui.note(f"[dim]monitor: {escape(client.monitor_url('/conversations/' + conversation_id))}[/]")
    if args.message:
        messages: Iterator[str] = iter(args.message)
    elif sys.stdin.isatty() and not ui.json_mode:
        ui.note("[dim]type a message; /quit or Ctrl-D to leave[/]")
        messages = _interactive(ui)
    else:
        messages = _messages_from_stdin()
    failed = 0
    for content in messages:
        outcome = watch_turn(client, ui, conversation_id, content, args.timeout)
        print_outcome(ui, outcome)
        failed += not outcome.ok
    return 1 if failed else 0


def cmd_history(client: AppClient, ui: Ui, args: argparse.Namespace) -> int:
    body = client.conversation(args.conversation)
    if ui.json_mode:
        ui.emit_json(body)
        return 0
    ui.out.print(f"conversation [bold]{escape(body['conversationId'])}[/] · created {body.get('createdAt', '')[:19]} · "
                 f"{body.get('turnsFinished', 0)}/{body.get('turnsAccepted', 0)} turns finished", highlight=False)
    for turn in body.get("turns", []):
        ui.out.rule(f"turn {turn.get('turn')} · {turn.get('status')}", style="dim")
        ui.out.print(Text("you › ", style="bold cyan") + Text(str(turn.get("userMessage") or "")))
        calls = turn.get("toolCalls") or []
        if calls:
            table = Table(show_header=True, header_style="dim", box=None, padding=(0, 1))
            for column in ("round", "tool", "arguments", "output", "ms"):
                table.add_column(column, overflow="fold")
            for call in calls:
                duration = call.get("durationMs")
                table.add_row(str(call.get("round") or ""), str(call.get("name")), _clip(call.get("arguments")),
                              _clip(call.get("output")), f"{duration:.0f}" if isinstance(duration, int | float) else "")
            ui.out.print(table)
        if turn.get("answer"):
            ui.out.print(Text("assistant › ", style="bold green") + Text(str(turn["answer"])))
        if turn.get("error"):
            ui.out.print(Text("error: ", style="bold red") + Text(str(turn["error"])))
    pending = int(body.get("turnsAccepted", 0)) - len(body.get("turns", []))
    if pending > 0:
        ui.out.print(f"[dim]{pending} turn(s) still running[/]")
    return 0


def cmd_conversations(client: AppClient, ui: Ui, args: argparse.Namespace) -> int:
    page = client.conversations(args.top, args.continuation_token)
    if ui.json_mode:
        ui.emit_json(page)
        return 0
    table = Table("conversation", "created (UTC)", "turns", "finished", header_style="dim")
    for conv in page.get("conversations", []):
        table.add_row(conv["conversationId"], str(conv.get("createdAt", ""))[:19].replace("T", " "),
                      str(conv.get("turnsAccepted", "")), str(conv.get("turnsFinished", "")))
    ui.out.print(table)
    if page.get("continuationToken"):
        ui.out.print(f"[dim]more: assistant conversations --continuation-token {page['continuationToken']}[/]")
    return 0


def _clip(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("DURABLE_ASSISTANT_URL", DEFAULT_URL),
                        help="the app's base URL (default: %(default)s)")
    parser.add_argument("--key", default=os.environ.get("DURABLE_ASSISTANT_KEY") or None,
                        help="function key (x-functions-key), where the app enforces keys")
    parser.add_argument("--json", action="store_true", help="JSON output for scripts (no spinner)")
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="chat: start or resume a conversation")
    chat.add_argument("-c", "--conversation", help="resume this conversation instead of starting one")
    chat.add_argument("-m", "--message", action="append", help="send this message (repeat for several), then exit")
    chat.add_argument("--timeout", type=float, default=600.0, help="seconds to follow one turn (default %(default)s)")
    chat.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON line per turn")
    history = commands.add_parser("history", help="print a conversation's transcript")
    history.add_argument("conversation")
    history.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="the transcript as JSON")
    listing = commands.add_parser("conversations", help="list conversations, newest first")
    listing.add_argument("--top", type=int, default=20)
    listing.add_argument("--continuation-token")
    listing.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="the page as JSON")
    return parser


COMMANDS = {"chat": cmd_chat, "history": cmd_history, "conversations": cmd_conversations}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ui = Ui(json_mode=bool(args.json), out=Console(), err=Console(stderr=True))
    try:
        client = AppClient(args.url, args.key)
        client.api  # noqa: B018 -- validates --url before anything is sent
        return COMMANDS[args.command](client, ui, args)
    except CliError as exc:
        ui.err.print(Text("error: ", style="bold red") + Text(str(exc)))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.err.print("\ninterrupted (a turn already sent goes on at the app)")
        return 130
