"""silo_client: the storage guide's StorageManager, BackupManager and
CloudImporter over silo's HTTP API (standard library only, asyncio).

    from silo_client import StorageManager
    storage = StorageManager()          # SILO_URL, STORAGE_API_TOKEN
    project_id = await storage.store_project(project_path="./app", metadata={"name": "app"})

silo_client.sync has the same classes with blocking methods.
"""

from .errors import Conflict, ProjectNotFound, QuotaExceeded, SiloError, Unauthorized, UnsafeArchive
from .managers import BackupManager, CloudImporter, StorageManager

__all__ = [
    "StorageManager", "BackupManager", "CloudImporter",
    "SiloError", "ProjectNotFound", "QuotaExceeded", "Unauthorized", "Conflict", "UnsafeArchive",
]
__version__ = "0.1.0"
