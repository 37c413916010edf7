"""The storage guide's StorageManager, BackupManager and CloudImporter over
silo's HTTP API. Every method is a coroutine; blocking I/O runs in worker
threads (asyncio.to_thread), so an event loop is never blocked."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from typing import Any, Callable, Dict, List, Optional

from . import _archive
from ._http import Transport, iter_file
from .errors import SiloError, error_for

ProgressFn = Optional[Callable[[float], None]]

_GIB = 1 << 30


def _metadata_query(metadata: Optional[Dict[str, Any]], default_type: Optional[str] = None) -> Dict[str, Any]:
    md = dict(metadata or {})
    name = md.pop("name", None)
    if not name:
        raise SiloError("metadata must name the project: {'name': ...}", code="invalid")
    q: Dict[str, Any] = {"name": name}
    t = md.pop("type", None) or default_type
    if t:
        q["type"] = t
    for key in ("tags", "languages", "frameworks"):
        v = md.pop(key, None)
        if v:
            q[key] = list(v) if not isinstance(v, str) else v
    git = md.pop("git_repository", None)
    if git:
        q["git_repository"] = git
    return q


class _Base:
    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 600.0,
                 transport: Optional[Transport] = None) -> None:
        self._t = transport or Transport(url, token, timeout)

    async def _call(self, method: str, route: str, **kw: Any) -> Any:
        _, body = await asyncio.to_thread(self._t.call, method, route, **kw)
        return body

    async def _job(self, method: str, route: str, wait: bool = True, on_progress: ProgressFn = None, **kw: Any) -> Any:
        def run() -> Any:
            _, ans = self._t.call(method, route, **kw)
            return self._t.job(ans, wait=wait, on_progress=on_progress)
        return await asyncio.to_thread(run)


class StorageManager(_Base):
    """Projects: store, list, fetch, extract, archive, delete, clean up.

    Configured by SILO_URL (default http://127.0.0.1:8080) and
    STORAGE_API_TOKEN, or by the constructor's url and token. With
    silo_binary (default: SILO_BIN), store_project and a directory
    import_project run `silo store --remote` from that binary: the repository's
    chunking and blob dedup in Go, so an unchanged re-store sends almost
    nothing; without it they stream tar."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 600.0,
                 transport: Optional[Transport] = None, silo_binary: Optional[str] = None) -> None:
        super().__init__(url, token, timeout, transport)
        self.silo_binary = silo_binary if silo_binary is not None else os.environ.get("SILO_BIN") or None

    async def store_project(self, project_path: str, metadata: Optional[Dict[str, Any]] = None, compress: bool = True,
                            on_progress: ProgressFn = None) -> str:
        """Stores the directory as the newest version of the project
        metadata["name"] (created when new) and returns its project_id.

        The directory goes as a tar stream, never held in memory; the server
        chunks, deduplicates and compresses it (compress=False is accepted
        for the guide's signature: silo always compresses what shrinks).
        on_progress gets percentages of the bytes read, rising to 100 when
        the server has recorded the version."""
        del compress
        query = _metadata_query(metadata)
        return await asyncio.to_thread(self._upload_dir, project_path, query, on_progress)

    def _upload_dir(self, path: str, query: Dict[str, Any], on_progress: ProgressFn) -> str:
        if self.silo_binary:
            return self._store_with_binary(path, query, on_progress)
        _, total = _archive.tree_size(path)
        prog = _archive._Progress(total, on_progress)
        body = _archive.tar_stream(path, prog)
        _, ans = self._t.call("POST", "/projects", query=query, body=body,
                              headers={"Content-Type": "application/x-tar"})
        prog.finish()
        return ans["project_id"]

    def _store_with_binary(self, path: str, query: Dict[str, Any], on_progress: ProgressFn) -> str:
        """`silo --json store --remote`: progress lines, then the summary."""
        args = [self.silo_binary or "silo", "--json", "store", "--remote", self._t.url, "--project", query["name"]]
        if query.get("type"):
            args += ["--type", query["type"]]
        for t in query.get("tags") or []:
            args += ["--tag", t]
        if query.get("git_repository"):
            args += ["--git-repository", query["git_repository"]]
        args.append(path)
        env = dict(os.environ, STORAGE_API_TOKEN=self._t.token)
        result: Optional[Dict[str, Any]] = None
        failure: Optional[Dict[str, Any]] = None
        last = -1.0
        # stderr (logs) goes to a file, so a chatty run cannot stall on a full pipe
        with tempfile.TemporaryFile("w+") as errf, \
                subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errf, env=env, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if ev.get("type") == "progress" and on_progress is not None:
                    pct = min(99.0, float(ev.get("percent") or 0))
                    if pct > last:
                        last = pct
                        on_progress(pct)
                elif ev.get("type") == "summary":
                    result = ev.get("result")
                elif isinstance(ev.get("error"), dict):
                    failure = ev["error"]
            code = proc.wait()
            errf.seek(0)
            stderr = errf.read().strip()
        if failure is not None:
            raise error_for(0, failure.get("code"), failure.get("message", stderr))
        if code != 0 or result is None:
            raise SiloError(f"{' '.join(args[:4])} {path}: exit {code}: {stderr}", code="error")
        if on_progress is not None:
            on_progress(100.0)
        return result["project_id"]

    async def import_project(self, source_path: str, metadata: Optional[Dict[str, Any]] = None,
                             on_progress: ProgressFn = None) -> str:
        """Imports a project (type migration unless metadata says otherwise)
        from a directory, a .tar or .tar.gz file, or an s3://bucket/key
        object (fetched by the server with its S3 settings); returns its
        project_id."""
        query = _metadata_query(metadata, default_type="migration")
        if source_path.startswith("s3://"):
            body = {"source": source_path, "name": query["name"], "type": query["type"]}
            if "tags" in query:
                body["tags"] = query["tags"]
            res = await self._job("POST", "/import", json_body=body, on_progress=on_progress)
            return res["project_id"]
        if os.path.isdir(source_path):
            return await asyncio.to_thread(self._upload_dir, source_path, query, on_progress)

        def upload_file() -> str:
            size = os.path.getsize(source_path)
            _, ans = self._t.call("POST", "/projects", query=query, body=iter_file(source_path),
                                  headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
            if on_progress is not None:
                on_progress(100.0)
            return ans["project_id"]
        return await asyncio.to_thread(upload_file)

    async def list_projects(self, status: Optional[str] = None, language: Optional[str] = None,
                            min_size_gb: Optional[float] = None, framework: Optional[str] = None,
                            tag: Optional[str] = None, name: Optional[str] = None) -> List[Dict[str, Any]]:
        """Projects passing the filters (default: active and archived), sorted
        by name, every page fetched."""
        out: List[Dict[str, Any]] = []
        cursor = None
        while True:
            page = await self._call("GET", "/projects", query={
                "status": status, "language": language, "min_size_gb": min_size_gb, "framework": framework,
                "tag": tag, "name": name, "cursor": cursor})
            out.extend(page.get("projects") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    async def get_project(self, project_id: str) -> Dict[str, Any]:
        """A project's metadata and versions (newest first). A missing project
        raises ProjectNotFound (a LookupError)."""
        return await self._call("GET", "/projects/" + _q(project_id))

    async def extract_project(self, project_id: str, destination: Optional[str] = None, version: Optional[str] = None,
                              on_server: bool = False, wait: bool = True) -> str:
        """Writes a version (default: the newest) into destination on this
        machine and returns the path: downloaded as tar, unpacked with the
        path-escape rules of `silo restore`, and checked against the
        version's file count and bytes. With on_server=True the server
        extracts it into its cache/<workbench>/ (or destination, which must
        be allowed there) and the server's path is returned."""
        if on_server:
            body: Dict[str, Any] = {}
            if destination:
                body["destination"] = destination
            if version:
                body["version"] = version
            _, ans = await asyncio.to_thread(self._t.call, "POST", "/extract/" + _q(project_id), json_body=body)
            path = ans.get("path")
            await asyncio.to_thread(self._t.job, ans, wait)
            return path
        if not destination:
            raise SiloError("extract_project needs a destination (or on_server=True)", code="invalid")
        return await asyncio.to_thread(self._download, project_id, destination, version)

    def _download(self, project_id: str, destination: str, version: Optional[str]) -> str:
        _, vs = self._t.call("GET", "/projects/" + _q(project_id) + "/versions")
        versions = vs.get("versions") or []
        want = None
        for v in versions:
            if version is None or v["id"].startswith(version):
                want = v
                break
        query = {"format": "tar", "version": want["id"] if want else version}
        conn, resp = self._t.open("GET", "/projects/" + _q(project_id) + "/archive", query=query)
        try:
            files, size = _archive.unpack(resp, destination)  # type: ignore[arg-type]
        finally:
            conn.close()
        if want is not None:
            stats = want.get("stats") or want
            exp_files, exp_size = stats.get("files"), stats.get("size")
            if exp_files is not None and exp_size is not None and (files, size) != (exp_files, exp_size):
                raise SiloError(f"extract of {project_id} into {destination}: wrote {files} files, {size} bytes; "
                                f"the version holds {exp_files} files, {exp_size} bytes", code="corrupt")
        return os.path.abspath(destination)

    async def archive_project(self, project_id: str, export: bool = False) -> Dict[str, Any]:
        """Marks a project archived (cache copies removed); export=True also
        writes archives/YYYY/MM/<id>.tar.gz on the server."""
        if export:
            return await self._job("POST", "/archive/" + _q(project_id), json_body={"export": True})
        return await self._call("POST", "/archive/" + _q(project_id))

    async def archive_old_projects(self, days: Optional[int] = None, wait: bool = True) -> Any:
        """Archives every active project not updated for days (default:
        archive_after_days) and returns how many (wait=False: the job)."""
        body = {"older_than_days": days} if days is not None else {}
        res = await self._job("POST", "/archive", wait=wait, json_body=body)
        return int(res["count"]) if wait else res

    async def delete_project(self, project_id: str, soft: bool = True) -> Dict[str, Any]:
        """Soft-deletes (restorable) or, with soft=False, removes a project for
        good (its space returns at the next gc)."""
        return await self._call("DELETE", "/projects/" + _q(project_id), query={"hard": not soft})

    async def clean_cache(self, older_than_days: int = 0) -> Dict[str, Any]:
        """Removes the server's extracted copies (older than older_than_days;
        0: all) and returns {"removed", "freed_bytes"}."""
        return await self._call("POST", "/cache/clean", json_body={"older_than_days": older_than_days})

    async def cleanup_old_backups(self, days: Optional[int] = None, wait: bool = True) -> Any:
        """Removes backups older than days (default: retention_days; each
        project keeps its newest backup) and returns how many went
        (wait=False: the job)."""
        body = {"retention_days": days} if days is not None else {}
        res = await self._job("POST", "/backups/expire", wait=wait, json_body=body)
        return len(res.get("expired") or []) if wait else res

    async def full_cleanup(self, dry_run: bool = False, wait: bool = True) -> Dict[str, Any]:
        """The storage guide's cleanup: archive old projects, purge long-deleted
        ones, expire backups, clean the cache, collect garbage. Returns the
        report, with freed_bytes."""
        return await self._job("POST", "/cleanup", wait=wait, json_body={"dry_run": dry_run})

    async def get_storage_stats(self) -> Dict[str, Any]:
        """total_projects, total_size_gb, active_projects, archived_projects,
        available_space_gb and more."""
        return await self._call("GET", "/stats")


class BackupManager(_Base):
    """Backups to the server's backup.destination (or a destination the
    server allows)."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, timeout: float = 600.0,
                 destination: Optional[str] = None, transport: Optional[Transport] = None) -> None:
        super().__init__(url, token, timeout, transport)
        self.destination = destination

    def _body(self, **kw: Any) -> Dict[str, Any]:
        body = {k: v for k, v in kw.items() if v is not None}
        if self.destination:
            body["destination"] = self.destination
        return body

    async def backup_project(self, project_id: str, wait: bool = True) -> str:
        """Backs up one project (incrementally) and returns the backup id."""
        res = await self._job("POST", "/backup", wait=wait, json_body=self._body(projects=[project_id]))
        return res["id"] if wait else res["job_id"]

    async def backup_all_projects(self, wait: bool = True) -> str:
        """Backs up every project and template; returns the backup id."""
        res = await self._job("POST", "/backup", wait=wait, json_body=self._body())
        return res["id"] if wait else res["job_id"]

    async def list_backups(self) -> List[Dict[str, Any]]:
        """Backup records, oldest first; each has backup_id (and id), time and
        projects."""
        ans = await self._call("GET", "/backups", query={"destination": self.destination})
        return ans.get("backups") or []

    async def restore_project(self, backup_id: str, project_id: str, destination: str) -> str:
        """Writes the newest version backup_id ("latest" too) holds of a
        project into destination on this machine; returns the path."""
        def run() -> str:
            conn, resp = self._t.open("GET", f"/backups/{_q(backup_id)}/projects/{_q(project_id)}/archive",
                                      query={"destination": self.destination, "format": "tar"})
            try:
                files, size = _archive.unpack(resp, destination)  # type: ignore[arg-type]
                want = (resp.getheader("X-Silo-Files"), resp.getheader("X-Silo-Size"))
            finally:
                conn.close()
            if None not in want and (files, size) != (int(want[0]), int(want[1])):  # type: ignore[arg-type]
                raise SiloError(f"restore of {project_id} from backup {backup_id} into {destination}: wrote {files} files, "
                                f"{size} bytes; the backup holds {want[0]} files, {want[1]} bytes", code="corrupt")
            return os.path.abspath(destination)
        return await asyncio.to_thread(run)

    async def restore_all_projects(self, backup_id: str = "latest", wait: bool = True) -> Dict[str, Any]:
        """Restores every project of a backup (every backed-up version, with
        its metadata, and the templates) back into the server's repository;
        returns {"projects", "bytes", ...}."""
        return await self._job("POST", f"/backups/{_q(backup_id)}/restore", wait=wait, json_body=self._body())


class CloudImporter:
    """Imports projects from cloud storage through the server, which fetches
    the object with its own S3 settings (storage.s3 / AWS_* on the server)."""

    def __init__(self, provider: str = "s3") -> None:
        if provider != "s3":
            raise SiloError(f"provider {provider!r}: silo imports from s3 (Azure Blob is not supported yet)", code="invalid")
        self.provider = provider

    async def import_from_cloud(self, bucket: str, key: str, storage_manager: StorageManager,
                                metadata: Optional[Dict[str, Any]] = None) -> str:
        """Imports s3://bucket/key (a .tar or .tar.gz) as a migration project
        named by metadata or the key's base name; returns its project_id."""
        md = dict(metadata or {})
        if not md.get("name"):
            base = key.rsplit("/", 1)[-1]
            for ext in (".tar.gz", ".tgz", ".tar"):
                if base.endswith(ext):
                    base = base[: -len(ext)]
                    break
            md["name"] = base
        return await storage_manager.import_project(f"s3://{bucket}/{key.lstrip('/')}", metadata=md)


def _q(s: str) -> str:
    from urllib.parse import quote
    return quote(s, safe="")


__all__ = ["StorageManager", "BackupManager", "CloudImporter"]
