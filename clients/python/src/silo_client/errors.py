"""Errors raised by the client: every one carries the server's code and message."""

from __future__ import annotations

from typing import Any, Optional


class SiloError(Exception):
    """An error answered by silo (or met talking to it).

    ``code`` is the API's error code (``not_found``, ``quota_exceeded``, ...),
    ``status`` the HTTP status (0 when the server could not be reached) and
    ``details`` the answer's details, if any.
    """

    def __init__(self, message: str, code: str = "error", status: int = 0, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" if self.code else self.message


class ProjectNotFound(SiloError, LookupError):
    """No such project, version, backup or job (code ``not_found``)."""


class QuotaExceeded(SiloError):
    """max_project_size or total_quota would be passed (code ``quota_exceeded``)."""


class Unauthorized(SiloError, PermissionError):
    """A missing or wrong token (STORAGE_API_TOKEN)."""


class Conflict(SiloError):
    """Another process changed the repository under the call; run it again."""


class UnsafeArchive(SiloError, ValueError):
    """A downloaded tar names a path outside the destination (``../``, an
    absolute path, or through a symlink); nothing past the bad entry is written."""


_BY_CODE = {
    "not_found": ProjectNotFound,
    "blob_not_found": ProjectNotFound,
    "quota_exceeded": QuotaExceeded,
    "unauthorized": Unauthorized,
    "conflict": Conflict,
    "missing_blobs": Conflict,
}


def error_for(status: int, code: Optional[str], message: str, details: Any = None) -> SiloError:
    """The exception for an error answer."""
    code = code or "error"
    cls = _BY_CODE.get(code)
    if cls is None and status == 404:
        cls = ProjectNotFound
    return (cls or SiloError)(message, code=code, status=status, details=details)
