"""Blocking versions of the managers, for scripts:

    from silo_client.sync import StorageManager
    StorageManager().store_project(project_path="./app", metadata={"name": "app"})

Each method runs the coroutine of silo_client's class to completion (in a
fresh event loop; do not call these from inside a running loop: await the
async classes there)."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any, Callable, TypeVar

from . import managers

T = TypeVar("T")


def _blocking(cls: type) -> type:
    """A subclass of cls whose coroutine methods block."""
    ns = {}
    for name, fn in inspect.getmembers(cls, inspect.iscoroutinefunction):
        if name.startswith("_"):
            continue

        def make(f: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(f)
            def run(self: Any, *a: Any, **kw: Any) -> Any:
                return asyncio.run(f(self, *a, **kw))
            return run
        ns[name] = make(fn)
    return type(cls.__name__, (cls,), ns)


StorageManager = _blocking(managers.StorageManager)
BackupManager = _blocking(managers.BackupManager)


class CloudImporter(managers.CloudImporter):
    def import_from_cloud(self, bucket: str, key: str, storage_manager: Any, metadata: Any = None) -> str:  # type: ignore[override]
        async_sm = managers.StorageManager(transport=storage_manager._t)
        return asyncio.run(managers.CloudImporter.import_from_cloud(self, bucket, key, async_sm, metadata))


__all__ = ["StorageManager", "BackupManager", "CloudImporter"]
