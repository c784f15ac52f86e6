"""Delete the rows of one table partition: in table transactions (up to 100 operations each), or one by one
for a batch that failed because a row went meanwhile (a concurrent deletion)."""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError

TRANSACTION_LIMIT = 100


def delete_partition(table: Any, partition_key: str, keep: Container[str] = ()) -> int:
    """Delete every row of ``partition_key`` except the RowKeys in ``keep``; returns how many were deleted (a
    table that does not exist holds none)."""
    try:
        keys = [str(r["RowKey"]) for r in table.query_entities(
            "PartitionKey eq @pk", parameters={"pk": partition_key}, select=["RowKey"]) if r["RowKey"] not in keep]
    except ResourceNotFoundError:
        return 0
    for start in range(0, len(keys), TRANSACTION_LIMIT):
        chunk = keys[start:start + TRANSACTION_LIMIT]
        try:
            table.submit_transaction([("delete", {"PartitionKey": partition_key, "RowKey": k}) for k in chunk])
        except TableTransactionError:
            for key in chunk:
                table.delete_entity(partition_key, key)  # a row already gone is no error here
    return len(keys)
