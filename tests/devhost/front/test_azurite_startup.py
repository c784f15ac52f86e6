"""Azurite start-up when another process brings an Azurite up on the same ports (two devhosts started at once)."""

from __future__ import annotations

import threading
from pathlib import Path

from azure.data.tables import TableServiceClient

from devhost.azurite import AzuriteProcess, free_port, is_listening


def _usable(azurite: AzuriteProcess, table: str) -> None:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    service.create_table_if_not_exists(table)
    assert table in [t.name for t in service.list_tables()]


def test_two_starts_at_the_same_moment_share_one_azurite(tmp_path: Path) -> None:
    ports = (free_port(), free_port(), free_port())
    contenders = [AzuriteProcess(tmp_path / name, ports=ports, in_memory=True) for name in ("first", "second")]
    barrier = threading.Barrier(len(contenders))
    errors: list[BaseException] = []

    def start(azurite: AzuriteProcess) -> None:
        barrier.wait()
        try:
            azurite.start()
        except BaseException as exc:  # reported below, with the contender's log
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(a,)) for a in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        owners = [a for a in contenders if not a.adopted]
        assert len(owners) == 1, [(a.pid, a.adopted) for a in contenders]
        assert owners[0].pid is not None
        for number, azurite in enumerate(contenders):
            _usable(azurite, f"Race{number}")
        adopter = next(a for a in contenders if a.adopted)
        adopter.stop()  # not its Azurite: stays up for the owner
        assert all(is_listening("127.0.0.1", port) for port in ports)
    finally:
        for azurite in contenders:
            azurite.stop()
    assert not any(is_listening("127.0.0.1", port) for port in ports)


def test_a_start_on_ports_already_answering_uses_that_azurite(tmp_path: Path) -> None:
    ports = (free_port(), free_port(), free_port())
    with AzuriteProcess(tmp_path / "owner", ports=ports, in_memory=True) as owner:
        late = AzuriteProcess(tmp_path / "late", ports=ports, in_memory=True).start()
        assert late.adopted and late.pid is None and not owner.adopted
        _usable(late, "Late")
        late.stop()
        assert all(is_listening("127.0.0.1", port) for port in ports)
