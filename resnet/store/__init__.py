"""The run store: runs, their curves, probe statistics and weights in one SQLite file; recorder, export, import."""

from resnet.store.errors import StoreError
from resnet.store.imports import Imported
from resnet.store.recorder import RunRecorder
from resnet.store.schema import SCHEMA_VERSION, new_key
from resnet.store.store import (
    BLOCK_STATS,
    MAX_POINTS,
    STATUSES,
    Metrics,
    RunInfo,
    RunSnapshot,
    RunStore,
    Summary,
    default_store_path,
    pid_alive,
    refuse_if_read_only,
)
from resnet.store.weights import read_state_dict

__all__ = ["BLOCK_STATS", "MAX_POINTS", "SCHEMA_VERSION", "STATUSES", "Imported", "Metrics", "RunInfo",
           "RunRecorder", "RunSnapshot", "RunStore", "StoreError", "Summary", "default_store_path", "new_key",
           "pid_alive", "read_state_dict", "refuse_if_read_only"]
