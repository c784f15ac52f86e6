"""Listing conversations newest first, a page at a time: the store on a real Azurite, and the API logic."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from devhost.azurite import AzuriteProcess
from durable_assistant import api
from durable_assistant.config import Settings
from durable_assistant.services import Services
from durable_assistant.store import InvalidContinuationTokenError


@pytest.fixture
def services(azurite: AzuriteProcess) -> Iterator[Services]:
    svc = Services(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string,
                                      "ASSISTANT_STORAGE_PREFIX": "m" + uuid.uuid4().hex[:10]}))
    svc.ensure_storage()
    yield svc


def test_pages_are_newest_first_without_gaps_or_repeats(services: Services) -> None:
    created = [services.conversations.create().conversation_id for _ in range(5)]
    services.conversations.accept_message(created[0], "m1", "hello")
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = services.conversations.list_page(2, token)
        pages += 1
        seen += [c.conversation_id for c in page.conversations]
        token = page.continuation_token
        if token is None:
            break
    assert seen == list(reversed(created)) and pages == 3
    oldest = services.conversations.list_page(100).conversations[-1]
    assert (oldest.conversation_id, oldest.next_seq) == (created[0], 2)  # counters read from the index row


def test_an_exactly_full_last_page_has_no_token(services: Services) -> None:
    for _ in range(2):
        services.conversations.create()
    page = services.conversations.list_page(2)
    assert len(page.conversations) == 2 and page.continuation_token is None


def test_creating_an_existing_id_again_does_not_list_it_twice(services: Services) -> None:
    services.conversations.create_if_missing("fixed-id")
    services.conversations.create_if_missing("fixed-id")
    assert [c.conversation_id for c in services.conversations.list_page(10).conversations] == ["fixed-id"]


@pytest.mark.parametrize("token", ["garbage!", "bm90IGEgcm93a2V5", ""])
def test_foreign_tokens_are_refused(services: Services, token: str) -> None:
    if token == "":
        assert services.conversations.list_page(1, None).conversations == []
        return
    with pytest.raises(InvalidContinuationTokenError):
        services.conversations.list_page(1, token)


def test_api_validates_top_and_token(services: Services) -> None:
    services.conversations.create()
    ok = api.list_conversations(services, {"top": "1"})
    assert ok.status == 200 and set(ok.body) == {"conversations", "continuationToken"}
    assert set(ok.body["conversations"][0]) == {"conversationId", "createdAt", "turnsAccepted", "turnsFinished",
                                                "lastActivityAt", "deletingSince"}
    for bad in ({"top": "0"}, {"top": "101"}, {"top": "x"}, {"continuationToken": "%%%"}):
        with pytest.raises(api.ApiError) as err:
            api.list_conversations(services, bad)
        assert err.value.status == 400, bad
    json.dumps(ok.body)  # serialisable as is
