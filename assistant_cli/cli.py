"""``assistant``: chat with a running Durable Assistant app, decide its approvals and read its conversations.

    assistant chat                          new conversation, interactive (type /quit or Ctrl-D to leave)
    assistant chat -c ID                    resume a conversation
    assistant chat -m "..." [-m "..."]      send these messages and exit (also: lines on stdin)
    assistant history ID                    print a conversation's transcript
    assistant conversations                 list conversations, newest first
    assistant approvals ID [--all]          tool calls waiting for approval (--all: decided ones too)
    assistant approve|deny ID TURN.CALL [--reason ...]     decide one (ids as `approvals` lists them)
    assistant cancel ID TURN [--reason ...] [--wait]       cancel a running turn

In a terminal, `chat` asks you about each tool call that waits for approval (approve, deny or skip, with an
optional reason), and Ctrl-C while a turn runs offers to cancel it (Ctrl-C again quits; the turn goes on).
Options before the command: --url (DURABLE_ASSISTANT_URL, default http://127.0.0.1:7071) and --key
(DURABLE_ASSISTANT_KEY, the function key where the app enforces keys). --json prints JSON for scripts. --by
(DURABLE_ASSISTANT_USER, default the login name) labels decisions and cancels where the app has no signed-in user.
Exit codes: 0 ok, 1 a turn failed or was cancelled, 2 bad usage, 3 app unreachable (or not this app), 4 key
refused, 5 unknown conversation, turn or approval, 6 refused (approval closed, turn ended, not an approver),
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.prompt import Confirm, Prompt
from rich.table import Table
from rich.text import Text

from assistant_cli.client import TERMINAL, ApiRefused, AppClient, CliError, refusal_error
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
               interval: float = 0.25, ask: bool = False, by: str | None = None) -> TurnOutcome:
    """Send one message and follow its turn to the end (see follow_turn)."""
    outcome = TurnOutcome(conversation_id, content)
    started = time.monotonic()
    try:
        accepted = client.send(conversation_id, content)
    except ApiRefused as exc:
        outcome.error = f"the app refused the message ({exc.status} {exc.code}): {exc}"
        return outcome
    outcome.turn, outcome.message_id = accepted.get("turn"), accepted.get("messageId")
    outcome.instance_id = accepted.get("id")
    return follow_turn(client, ui, outcome, str(accepted["statusQueryGetUri"]), timeout, started, interval, ask, by)


def follow_turn(client: AppClient, ui: Ui, outcome: TurnOutcome, status_url: str, timeout: float,
                started: float, interval: float = 0.25, ask: bool = False, by: str | None = None) -> TurnOutcome:
    """Follow a turn's status route to the end, showing each new phase as it appears. With ``ask`` (a person at
    a terminal) each call that waits for approval is put to them, and Ctrl-C offers to cancel the turn."""
    last_line, approvals_shown = "", ""
    asked: set[str] = set()
    with ui.spinner(f"turn {outcome.turn}: sent") as spinner:
        while True:
            try:
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
                    if approvals and json.dumps(approvals) != approvals_shown and status.get(
                            "runtimeStatus") not in TERMINAL:
                        approvals_shown = json.dumps(approvals)
                        fresh = [a for a in approvals if str(a.get("approvalId")) not in asked]
                        if ask and fresh:
                            with _paused(spinner):
                                for item in fresh:
                                    asked.add(str(item.get("approvalId")))
                                    ask_decision(client, ui, outcome.conversation_id, item, by)
                        elif not ask:
                            show_approvals(ui, outcome.conversation_id, approvals)
                    if status.get("runtimeStatus") in TERMINAL:
                        _finish(outcome, status)
                        break
                if elapsed > timeout:
                    outcome.error = (f"turn {outcome.turn} still running after {timeout:.0f} s; it goes on at the "
                                     f"app: {status_url} (stop it: assistant cancel {outcome.conversation_id} "
                                     f"{outcome.turn})")
                    break
                time.sleep(interval)
            except KeyboardInterrupt:
                if not ask or outcome.turn is None:
                    raise
                with _paused(spinner):
                    offer_cancel(client, ui, outcome.conversation_id, int(outcome.turn), by)
    outcome.seconds = round(time.monotonic() - started, 3)
    return outcome


@contextlib.contextmanager
def _paused(spinner: Any) -> Iterator[None]:
    """Stop the spinner while a question is on screen (it would redraw over the prompt)."""
    if spinner is not None:
        spinner.stop()
    try:
        yield
    finally:
        if spinner is not None:
            spinner.start()


def _approval_line(item: dict[str, Any]) -> str:
    """`1.2 set_lamp {"lamp": "kitchen"} · expires 12:03:10 UTC` (the arguments are the model's: escaped)."""
    args = item.get("arguments")
    text = _clip(args if isinstance(args, str) else json.dumps(args, ensure_ascii=False), 300)
    expires = str(item.get("expiresAt") or "")[11:19]
    return (f"[bold]{escape(str(item.get('approvalId', '?')))}[/] {escape(str(item.get('tool', 'tool call')))} "
            f"{escape(text)}" + (f" [dim]· expires {expires} UTC[/]" if expires else ""))


def show_approvals(ui: Ui, conversation_id: str, approvals: list[dict[str, Any]]) -> None:
    """Pending tool calls the app holds for a person's decision (customStatus.pendingApprovals)."""
    ui.note("  [bold yellow]waiting for approval:[/]")
    for item in approvals:
        ui.note(f"    • {_approval_line(item)}")
    ui.note(f"    [dim]decide: assistant approve|deny {escape(conversation_id)} ID [--reason ...], or in the "
            "monitor[/]")


def ask_decision(client: AppClient, ui: Ui, conversation_id: str, item: dict[str, Any], by: str | None) -> None:
    """Put one waiting call to the person at the terminal and post their decision."""
    approval_id = str(item.get("approvalId", ""))
    ui.note(f"  [bold yellow]approval needed:[/] {_approval_line(item)}")
    choice = Prompt.ask("  [bold]approve, deny or skip[/] (skip leaves it to another approver)",
                        choices=["a", "d", "s"], default="s", console=ui.err)
    if choice == "s":
        ui.note(f"  [dim]left pending: assistant approve|deny {escape(conversation_id)} {escape(approval_id)}[/]")
        return
    decision = "approve" if choice == "a" else "deny"
    reason = ui.err.input("  reason (optional, Enter for none): ").strip() or None
    try:
        decided = client.decide(conversation_id, approval_id, decision, reason, by)
    except ApiRefused as exc:
        ui.note(f"  [red]not recorded:[/] {escape(str(exc))} ({exc.status} {escape(exc.code)})")
        return
    ui.note(f"  {escape(approval_id)} [bold]{escape(str(decided.get('status')))}[/] by "
            f"{escape(str(decided.get('decidedBy')))}")


def offer_cancel(client: AppClient, ui: Ui, conversation_id: str, turn: int, by: str | None) -> None:
    """Ctrl-C while a turn runs: cancel it at the app, or go on following it. Ctrl-C again quits (the turn goes
    on at the app)."""
    ui.note("")
    if not Confirm.ask(f"  [bold]cancel turn {turn}?[/] (no: keep following it; Ctrl-C again: quit and leave it "
                       "running)", default=True, console=ui.err):
        return
    reason = ui.err.input("  reason (optional, Enter for none): ").strip() or None
    try:
        client.cancel(conversation_id, turn, reason, by)
    except ApiRefused as exc:
        ui.note(f"  [red]not cancelled:[/] {escape(str(exc))} ({exc.status} {escape(exc.code)})")
        return
    ui.note(f"  [yellow]cancelling turn {turn}…[/]")


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
    if outcome.status == "cancelled":
        ui.err.print(Text(f"turn {outcome.turn} cancelled: ", style="bold yellow") + Text(outcome.error or ""))
    elif outcome.ok:
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
    # A person at a terminal is asked about each call that waits for approval, and Ctrl-C offers to cancel.
    ask = sys.stdin.isatty() and not ui.json_mode
    failed = 0
    for content in messages:
        outcome = watch_turn(client, ui, conversation_id, content, args.timeout, ask=ask, by=args.by)
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
            decided = any(isinstance(call.get("approval"), dict) for call in calls)
            table = Table(show_header=True, header_style="dim", box=None, padding=(0, 1))
            for column in ("round", "tool", "arguments", "output", "ms") + (("approval",) if decided else ()):
                table.add_column(column, overflow="fold")
            for call in calls:
                duration = call.get("durationMs")
                cells = [str(call.get("round") or ""), str(call.get("name")), _clip(call.get("arguments")),
                         _clip(call.get("output")), f"{duration:.0f}" if isinstance(duration, int | float) else ""]
                table.add_row(*cells, *((approval_text(call.get("approval")),) if decided else ()))
            ui.out.print(table)
        if turn.get("answer"):
            ui.out.print(Text("assistant › ", style="bold green") + Text(str(turn["answer"])))
        if turn.get("status") == "cancelled":
            ui.out.print(Text("cancelled by ", style="bold yellow") + Text(str(turn.get("cancelledBy") or "?"))
                         + Text(f": {turn['cancelReason']}" if turn.get("cancelReason") else ""))
        elif turn.get("error"):
            ui.out.print(Text("error: ", style="bold red") + Text(str(turn["error"])))
    pending = int(body.get("turnsAccepted", 0)) - len(body.get("turns", []))
    if pending > 0:
        ui.out.print(f"[dim]{pending} turn(s) still running[/]")
    return 0


def approval_text(approval: Any) -> str:
    """A call's approval as the transcript records it: `approved by alice at 12:03:10: fine`."""
    if not isinstance(approval, dict):
        return ""
    status = str(approval.get("status") or "?")
    if approval.get("decidedBy"):
        status += f" by {approval['decidedBy']}"
    if approval.get("decidedAt"):
        status += f" at {str(approval['decidedAt'])[11:19]}"
    return status + (f": {approval['reason']}" if approval.get("reason") else "")


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


def cmd_approvals(client: AppClient, ui: Ui, args: argparse.Namespace) -> int:
    approvals = client.approvals(args.conversation, everything=args.all)
    if ui.json_mode:
        ui.emit_json({"conversationId": args.conversation, "approvals": approvals})
        return 0
    if not approvals:
        ui.out.print("no approval requests" if args.all else "no pending approvals (--all lists decided ones too)")
        return 0
    table = Table("id", "tool", "arguments", "status", "expires / decided (UTC)", "by", "reason", header_style="dim")
    for item in approvals:
        when = item.get("decidedAt") if item.get("status") != "pending" else item.get("expiresAt")
        table.add_row(str(item.get("approvalId")), str(item.get("tool")), _clip(item.get("arguments"), 120),
                      str(item.get("status")), str(when or "")[:19].replace("T", " "), str(item.get("decidedBy") or ""),
                      str(item.get("reason") or ""))
    ui.out.print(table)
    return 0


def cmd_decide(client: AppClient, ui: Ui, args: argparse.Namespace) -> int:
    decision = "approve" if args.command == "approve" else "deny"
    try:
        decided = client.decide(args.conversation, args.approval_id, decision, args.reason, args.by)
    except ApiRefused as exc:
        raise refusal_error(exc, f"{decision} {args.approval_id}") from None
    if ui.json_mode:
        ui.emit_json(decided)
    else:
        ui.out.print(f"{escape(str(decided.get('approvalId')))} {escape(str(decided.get('tool')))}: "
                     f"[bold]{escape(str(decided.get('status')))}[/] by {escape(str(decided.get('decidedBy')))}",
                     highlight=False)
    return 0


def cmd_cancel(client: AppClient, ui: Ui, args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        accepted = client.cancel(args.conversation, args.turn, args.reason, args.by)
    except ApiRefused as exc:
        raise refusal_error(exc, f"cancel turn {args.turn}") from None
    status_url = str(accepted["statusQueryGetUri"])
    if not args.wait:
        if ui.json_mode:
            ui.emit_json(accepted)
        else:
            ui.out.print(f"turn {args.turn} of {escape(args.conversation)}: cancelling (follow it: {status_url})",
                         highlight=False, soft_wrap=True)
        return 0
    outcome = TurnOutcome(args.conversation, "", turn=args.turn, instance_id=accepted.get("instanceId"))
    outcome = follow_turn(client, ui, outcome, status_url, args.timeout, started)
    print_outcome(ui, outcome)
    return 0 if outcome.status == "cancelled" else 1


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
    approvals = commands.add_parser("approvals", help="list a conversation's pending approvals (--all: decided too)")
    approvals.add_argument("conversation")
    approvals.add_argument("--all", action="store_true", help="every request: pending, approved, denied, expired, ...")
    approvals.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="the list as JSON")
    for name, verb in (("approve", "approve"), ("deny", "deny")):
        decide = commands.add_parser(name, help=f"{verb} a tool call that waits for approval")
        decide.add_argument("conversation")
        decide.add_argument("approval_id", metavar="APPROVAL_ID", type=_approval_id,
                            help="TURN.CALL, as `assistant approvals` lists it (e.g. 3.1)")
        decide.add_argument("--reason", help="recorded in the transcript" + (
            "; the model is told it" if name == "deny" else ""))
        _by_option(decide)
        decide.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="the approval as JSON")
    cancel = commands.add_parser("cancel", help="cancel a running turn")
    cancel.add_argument("conversation")
    cancel.add_argument("turn", type=_turn_number, help="the turn's number")
    cancel.add_argument("--reason", help="recorded with the turn")
    cancel.add_argument("--wait", action="store_true", help="follow the turn until it has stopped")
    cancel.add_argument("--timeout", type=float, default=120.0, help="seconds to follow it with --wait")
    _by_option(cancel)
    cancel.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output")
    _by_option(chat)
    return parser


def _by_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", default=default_actor(), help="who decides or cancels, recorded when the app "
                        "has no signed-in user (App Service Authentication) (default: %(default)s)")


def default_actor() -> str | None:
    """DURABLE_ASSISTANT_USER, else the login name: a label for the transcript, not an identity."""
    name = os.environ.get("DURABLE_ASSISTANT_USER")
    if not name:
        with contextlib.suppress(Exception):  # no login name (e.g. a container user without passwd entry)
            name = getpass.getuser()
    return name[:128] if name else None


def _approval_id(value: str) -> str:
    turn, dot, call = value.partition(".")
    if not (dot and turn.isdigit() and call.isdigit()):
        raise argparse.ArgumentTypeError(f"{value!r} is not an approval id (TURN.CALL, e.g. 3.1)")
    return value


def _turn_number(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a turn number (1, 2, ...)")
    return int(value)


COMMANDS = {"chat": cmd_chat, "history": cmd_history, "conversations": cmd_conversations,
            "approvals": cmd_approvals, "approve": cmd_decide, "deny": cmd_decide, "cancel": cmd_cancel}


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
