"""What the monitor's pages show of approvals: pure functions over approval records and turn-record calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from durable_assistant.contracts import ApprovalStatus
from durable_assistant.store import ApprovalRecord
from monitor.views import approval_views, tool_calls


def test_approval_views_and_call_decisions() -> None:
    """A request past its expiry shows as expired (no buttons) before the turn's timer closes it; a call's decision
    comes from the turn record, else from its request."""
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def request(number: int, status: ApprovalStatus, expires: datetime, **decided: str) -> ApprovalRecord:
        return ApprovalRecord("c1", 2, number, f"call_{number}", "set_lamp", '{"lamp": "<b>kitchen</b>"}', "i",
                              (now - timedelta(minutes=1)).isoformat(), expires.isoformat(), (), status, **decided)

    records = [request(1, "pending", now + timedelta(minutes=5)), request(2, "pending", now - timedelta(seconds=1)),
               request(3, "denied", now + timedelta(minutes=5), decided_by="alice", reason="no")]
    views = approval_views(records, now)
    assert [(v.approval_id, v.status, v.open) for v in views] == [("2.1", "pending", True), ("2.2", "expired", False),
                                                                  ("2.3", "denied", False)]
    assert views[0].decide_path == "/conversations/c1/approvals/2.1"
    assert views[0].arguments == '{\n  "lamp": "<b>kitchen</b>"\n}'  # pretty text; the template escapes it
    calls = tool_calls([{"name": "set_lamp", "number": 3, "ok": False},
                        {"name": "set_lamp", "number": 1, "approval": {"status": "approved", "decidedBy": "bob"}},
                        {"name": "get_weather", "number": 4}], records)
    assert [(c.approval.status, c.approval.decided_by, c.approval.reason) if c.approval else None for c in calls] == [
        ("denied", "alice", "no"), ("approved", "bob", None), None]
