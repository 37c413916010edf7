"""CloudImporter(provider="s3"): the server imports a .tar.gz object from an
S3-protocol server on 127.0.0.1 (bench/s3srv, gofakes3) with its own S3
settings."""

from __future__ import annotations

import asyncio
import filecmp
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import unittest
import urllib.request

from silo_client import CloudImporter, StorageManager

from _support import ROOT, Server


class CloudImport(unittest.TestCase):
    def test_import_from_s3(self) -> None:
        work = tempfile.mkdtemp(prefix="silo-s3-")
        self.addCleanup(shutil.rmtree, work, True)
        s3bin = os.path.join(work, "s3srv")
        subprocess.run(["go", "build", "-o", s3bin, "./bench/s3srv"], cwd=ROOT, check=True)
        url_file = os.path.join(work, "url")
        s3 = subprocess.Popen([s3bin, "-url-file", url_file, "projects"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(s3.kill)
        for _ in range(100):
            if os.path.exists(url_file) and open(url_file).read().strip():
                break
            time.sleep(0.1)
        endpoint = open(url_file).read().strip()

        src = os.path.join(work, "legacy")
        os.makedirs(os.path.join(src, "lib"))
        with open(os.path.join(src, "lib", "util.py"), "w") as f:
            f.write("def f():\n    return 42\n")
        with open(os.path.join(src, "setup.py"), "w") as f:
            f.write("from setuptools import setup\nsetup(name='legacy')\n")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            t.add(src, arcname=".")
        # gofakes3 takes an unsigned PUT
        req = urllib.request.Request(endpoint + "/projects/exports/legacy-app.tar.gz", data=buf.getvalue(), method="PUT")
        urllib.request.urlopen(req).read()

        srv = Server(env_extra={"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t",
                                "AWS_REGION": "us-east-1"})
        self.addCleanup(shutil.rmtree, srv.dir, True)
        self.addCleanup(srv.stop)

        async def run() -> None:
            storage = StorageManager(url=srv.url, token=srv.token)
            pid = await CloudImporter(provider="s3").import_from_cloud(bucket="projects", key="exports/legacy-app.tar.gz",
                                                                      storage_manager=storage)
            p = await storage.get_project(pid)
            self.assertEqual((p["name"], p["type"]), ("legacy-app", "migration"))
            self.assertIn("python", p["languages"])
            out = await storage.extract_project(pid, destination=os.path.join(work, "out"))
            self.assertTrue(filecmp.cmp(os.path.join(src, "lib", "util.py"), os.path.join(out, "lib", "util.py"), shallow=False))
            with self.assertRaises(LookupError):
                await CloudImporter().import_from_cloud(bucket="projects", key="missing.tar.gz", storage_manager=storage)
        asyncio.run(run())


if __name__ == "__main__":
    unittest.main()
