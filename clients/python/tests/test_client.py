"""Every method of the storage guide, called as the guide calls it, against a
real `silo serve` built from this checkout; results are compared with what
the silo command line reports on the same repository."""

from __future__ import annotations

import asyncio
import filecmp
import os
import shutil
import tarfile
import tempfile
import unittest

from silo_client import (BackupManager, CloudImporter, ProjectNotFound, QuotaExceeded, SiloError, StorageManager,
                         UnsafeArchive)
from silo_client import sync as silo_sync
from silo_client import _archive

from _support import Server, write_tree


def same_tree(a: str, b: str) -> bool:
    cmp = filecmp.dircmp(a, b)

    def ok(c: filecmp.dircmp) -> bool:
        if c.left_only or c.right_only or c.funny_files:
            return False
        if filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)[1:] != ([], []):
            return False
        return all(ok(s) for s in c.subdirs.values())
    return ok(cmp)


class GuideExamples(unittest.TestCase):
    srv: Server

    @classmethod
    def setUpClass(cls) -> None:
        cls.srv = Server()
        os.environ["SILO_URL"] = cls.srv.url
        os.environ["STORAGE_API_TOKEN"] = cls.srv.token

    @classmethod
    def tearDownClass(cls) -> None:
        cls.srv.stop()
        shutil.rmtree(cls.srv.dir, ignore_errors=True)

    def project(self, name: str, extra: bytes = b"") -> str:
        root = os.path.join(self.srv.dir, "src-" + name)
        write_tree(root, [
            ("app/main.py", b"from fastapi import FastAPI\napp = FastAPI()\n" + extra, 0o644),
            ("requirements.txt", b"fastapi\n", 0o644),
            ("bin/run.sh", b"#!/bin/sh\nexec python app/main.py\n", 0o755),
            ("data/blob.bin", os.urandom(3 << 20), 0o600),
            ("empty", None, 0o755),
        ])
        os.symlink("app/main.py", os.path.join(root, "entry"))
        return root

    def test_guide_flow(self) -> None:
        asyncio.run(self.flow())

    async def flow(self) -> None:
        srv = self.srv
        storage = StorageManager()
        src = self.project("erp")
        seen = []
        project_id = await storage.store_project(project_path=src, metadata={"name": "enterprise-erp", "type": "generation", "tags": ["erp"]},
                                                 compress=True, on_progress=lambda p: seen.append(p))
        self.assertEqual(seen[-1], 100)
        self.assertEqual(seen, sorted(seen))
        cli = srv.cli_json("projects", "show", "enterprise-erp")
        got = await storage.get_project(project_id)
        for k in ("project_id", "name", "type", "status", "languages", "frameworks", "tags", "size_bytes"):
            self.assertEqual(got[k], cli[k], k)
        self.assertIn("python", got["languages"])
        self.assertIn("fastapi", got["frameworks"])

        # a second version: the listing and the CLI agree
        with open(os.path.join(src, "app", "extra.py"), "w") as f:
            f.write("x = 1\n")
        self.assertEqual(await storage.store_project(project_path=src, metadata={"name": "enterprise-erp"}), project_id)
        self.assertEqual(len((await storage.get_project(project_id))["versions"]), 2)
        listed = await storage.list_projects(status="active")
        cli_list = srv.cli_json("projects", "list")
        self.assertEqual([p["project_id"] for p in listed], [p["project_id"] for p in cli_list["projects"]] if isinstance(cli_list, dict) else [p["project_id"] for p in cli_list])
        self.assertEqual([p["name"] for p in await storage.list_projects(language="python")], ["enterprise-erp"])
        self.assertEqual(await storage.list_projects(min_size_gb=1), [])

        # extract on this machine: identical, modes and the symlink too
        dest = os.path.join(srv.dir, "workspace")
        path = await storage.extract_project(project_id, destination=dest)
        self.assertTrue(same_tree(src, path))
        self.assertEqual(os.readlink(os.path.join(path, "entry")), "app/main.py")
        self.assertEqual(os.stat(os.path.join(path, "bin/run.sh")).st_mode & 0o777, 0o755)
        self.assertEqual(int(os.stat(os.path.join(path, "data/blob.bin")).st_mtime), int(os.stat(os.path.join(src, "data/blob.bin")).st_mtime))
        # and on the server, into its cache
        server_path = await storage.extract_project(project_id, on_server=True)
        self.assertTrue(server_path.startswith(os.path.join(srv.repo, "cache")), server_path)
        self.assertTrue(same_tree(src, server_path))
        # and clean_cache removes that copy
        cache = await storage.clean_cache()
        self.assertEqual(cache["removed"], 1)
        self.assertGreater(cache["freed_bytes"], 3 << 20)
        self.assertFalse(os.path.exists(server_path))

        # backups
        backups = BackupManager()
        one = await backups.backup_project(project_id)
        everything = await backups.backup_all_projects()
        listed_backups = await backups.list_backups()
        self.assertEqual([b["backup_id"] for b in listed_backups], [one, everything])
        cli_backups = srv.cli_json("backup", "list", "--from", os.path.join(srv.dir, "backups"))
        self.assertEqual([b["id"] for b in cli_backups["backups"]], [one, everything])

        # archive, cache, expiry, cleanup, stats
        await storage.archive_project(project_id)
        self.assertEqual((await storage.get_project(project_id))["status"], "archived")
        self.assertEqual(srv.cli_json("projects", "show", project_id)["status"], "archived")
        self.assertEqual(await storage.archive_old_projects(days=90), 0)
        self.assertEqual(await storage.cleanup_old_backups(days=30), 0)
        report = await storage.full_cleanup()
        self.assertIsInstance(report["freed_bytes"], int)
        stats = await storage.get_storage_stats()
        cli_stats = srv.cli_json("stats")
        for k in ("total_projects", "active_projects", "archived_projects", "total_size_gb"):
            self.assertEqual(stats[k], cli_stats[k], k)
        self.assertIn("available_space_gb", stats)

        # restore from a backup onto this machine
        restored = os.path.join(srv.dir, "restored")
        self.assertEqual(await backups.restore_project(backup_id=one, project_id=project_id, destination=restored), restored)
        self.assertTrue(same_tree(src, restored))

        # import: a directory, then a .tar.gz file, as migrations
        legacy = await storage.import_project(source_path=src, metadata={"name": "legacy-project"})
        self.assertEqual((await storage.get_project(legacy))["type"], "migration")
        tgz = os.path.join(srv.dir, "legacy2.tar.gz")
        with tarfile.open(tgz, "w:gz") as t:
            t.add(src, arcname=".")
        legacy2 = await storage.import_project(source_path=tgz, metadata={"name": "legacy-two"})
        out2 = await storage.extract_project(legacy2, destination=os.path.join(srv.dir, "legacy2"))
        self.assertTrue(same_tree(src, out2))

        # deletes: soft is restorable, hard is final; both agree with the CLI
        await storage.delete_project(project_id, soft=True)
        self.assertEqual((await storage.get_project(project_id))["status"], "deleted")
        gone = await storage.delete_project(legacy, soft=False)
        self.assertEqual((gone["status"], gone.get("permanent")), ("deleted", True))
        with self.assertRaises(ProjectNotFound) as e:
            await storage.get_project(legacy)
        self.assertIsInstance(e.exception, LookupError)
        self.assertEqual(e.exception.code, "not_found")
        self.assertNotIn("legacy-project", srv.cli("projects", "list"))

        # restore_all_projects brings the soft-deleted project back as it was backed up
        res = await backups.restore_all_projects(everything)
        self.assertIn("enterprise-erp", res["projects"])

    def test_errors_carry_the_servers_code(self) -> None:
        async def run() -> None:
            storage = StorageManager()
            with self.assertRaises(ProjectNotFound) as e:
                await storage.get_project("no-such-project")
            self.assertIn("no-such-project", e.exception.message)
            bad = StorageManager(token="wrong")
            with self.assertRaises(SiloError) as e2:
                await bad.get_storage_stats()
            self.assertEqual((e2.exception.code, e2.exception.status), ("unauthorized", 401))
        asyncio.run(run())

    def test_quota(self) -> None:
        srv = Server()
        try:
            srv.stop()
            # a server with a 1 MiB project limit
            srv.env["STORAGE_MAX_PROJECT_SIZE"] = "1MiB"
            srv2 = _restart(srv)
            storage = StorageManager(url=srv2.url, token=srv2.token)
            with self.assertRaises(QuotaExceeded) as e:
                asyncio.run(storage.store_project(project_path=self.project("big"), metadata={"name": "big"}))
            self.assertEqual(e.exception.code, "quota_exceeded")
            self.assertNotIn("big", srv2.cli("projects", "list"))
            srv2.stop()
        finally:
            shutil.rmtree(srv.dir, ignore_errors=True)

    def uploaded(self) -> float:
        """silo_upload_bytes_total: request body bytes the server received."""
        import urllib.request
        req = urllib.request.Request(self.srv.url + "/metrics", headers={"Authorization": "Bearer " + self.srv.token})
        for line in urllib.request.urlopen(req).read().decode().splitlines():
            if line.startswith("silo_upload_bytes_total"):
                return float(line.split()[-1])
        return 0.0

    def test_store_through_the_silo_binary(self) -> None:
        """With silo_binary, an unchanged re-store sends almost nothing; the
        tar stream sends the whole tree again (and stores nothing new)."""
        from _support import silo_bin
        src = self.project("dedup")
        tree = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(src) for f in fs
                   if not os.path.islink(os.path.join(d, f)))

        async def run() -> None:
            via_bin = StorageManager(silo_binary=silo_bin())
            seen = []
            pid = await via_bin.store_project(project_path=src, metadata={"name": "dedup", "tags": ["t1"]}, on_progress=seen.append)
            self.assertEqual(seen[-1], 100)
            self.assertEqual((await via_bin.get_project(pid))["tags"], ["t1"])
            before = self.uploaded()
            self.assertEqual(await via_bin.store_project(project_path=src, metadata={"name": "dedup"}), pid)
            sent_bin = self.uploaded() - before
            before = self.uploaded()
            self.assertEqual(await StorageManager(silo_binary="").store_project(project_path=src, metadata={"name": "dedup"}), pid)
            sent_tar = self.uploaded() - before
            self.assertLess(sent_bin, tree / 10, (sent_bin, tree))
            self.assertGreater(sent_tar, tree, (sent_tar, tree))
            self.assertEqual(len((await via_bin.get_project(pid))["versions"]), 3)
        asyncio.run(run())

    def test_sync_facade(self) -> None:
        storage = silo_sync.StorageManager()
        src = self.project("syncy")
        pid = storage.store_project(project_path=src, metadata={"name": "sync-project"})
        self.assertEqual(storage.get_project(pid)["name"], "sync-project")
        backups = silo_sync.BackupManager()
        self.assertTrue(backups.backup_project(pid))
        with self.assertRaises(SiloError):
            CloudImporter(provider="azure")

    def test_unpack_refuses_escapes(self) -> None:
        import io
        outside = tempfile.mkdtemp(prefix="outside-")
        self.addCleanup(shutil.rmtree, outside, True)
        for name in ("../evil", "/abs", "link/x"):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as t:
                if name.startswith("link/"):
                    li = tarfile.TarInfo("link")
                    li.type, li.linkname = tarfile.SYMTYPE, outside
                    t.addfile(li)
                ti = tarfile.TarInfo(name)
                ti.size = 1
                t.addfile(ti, io.BytesIO(b"x"))
            buf.seek(0)
            parent = tempfile.mkdtemp()
            dest = os.path.join(parent, "dest")
            with self.assertRaises(UnsafeArchive) as e:
                _archive.unpack(buf, dest)
            self.assertIn(name, str(e.exception))
            self.assertEqual(os.listdir(outside), [])
            self.assertEqual(sorted(os.listdir(parent)), ["dest"])
            shutil.rmtree(parent)


def _restart(old: Server) -> Server:
    """A new server process on old's repository with old.env."""
    import subprocess
    import time
    import urllib.request
    from _support import free_port, silo_bin
    srv = Server.__new__(Server)
    srv.dir, srv.repo, srv.token, srv.env = old.dir, old.repo, old.token, old.env
    srv.port = free_port()
    srv.url = f"http://127.0.0.1:{srv.port}"
    srv.log = open(os.path.join(srv.dir, "serve2.log"), "wb")
    srv.proc = subprocess.Popen([silo_bin(), "serve", "--addr", f"127.0.0.1:{srv.port}"], cwd=srv.dir, env=srv.env,
                                stdout=srv.log, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            urllib.request.urlopen(srv.url + "/healthz", timeout=1).read()
            return srv
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("restart failed")


if __name__ == "__main__":
    unittest.main()
