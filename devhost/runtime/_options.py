"""Tuning knobs of the runtime, read from host.json by the CLI (names follow the real extension's settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeOptions:
    """How the dispatchers poll and how much they run at once."""

    partition_count: int = 4
    """Number of control queues (``storageProvider.partitionCount``)."""
    control_queue_batch_size: int = 32
    """Messages fetched per control-queue receive (``controlQueueBatchSize``; Azure's cap is 32)."""
    control_queue_visibility_timeout: float = 30.0
    """Seconds a received control message stays invisible. Azure's default is 5 minutes; devhost uses less so a
    restarted host resumes quickly (``controlQueueVisibilityTimeout``)."""
    work_item_visibility_timeout: float = 30.0
    """Same for activity work items (``workItemQueueVisibilityTimeout``); renewed while an activity runs."""
    max_queue_polling_interval: float = 30.0
    """Idle polling backs off up to this many seconds (``maxQueuePollingInterval``). Messages devhost sends itself,
    and timers it schedules, wake the dispatchers at once, so this only bounds recovery after a restart."""
    max_concurrent_activities: int = 20
    """``maxConcurrentActivityFunctions`` (real default: 10 x cores)."""
    max_concurrent_orchestrations: int = 20
    """``maxConcurrentOrchestratorFunctions`` (real default: 10 x cores)."""
