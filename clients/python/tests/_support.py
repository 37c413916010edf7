"""Shared by the tests: the checkout's root, a silo binary built from it, and
a real `silo serve` on 127.0.0.1."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import Any, List, Optional

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
_built: Optional[str] = None


def silo_bin() -> str:
    """SILO_BIN, or silo built from this checkout (once per run)."""
    global _built
    if os.environ.get("SILO_BIN"):
        return os.environ["SILO_BIN"]
    if _built is None:
        d = tempfile.mkdtemp(prefix="silo-pytest-")
        atexit.register(shutil.rmtree, d, True)
        out = os.path.join(d, "silo")
        subprocess.run(["go", "build", "-o", out, "./cmd/silo"], cwd=ROOT, check=True)
        _built = out
    return _built


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """silo serve over a new repository in a temporary directory; backups go
    to <dir>/backups."""

    def __init__(self, token: str = "py-test-token", env_extra: Optional[dict] = None) -> None:
        self.dir = tempfile.mkdtemp(prefix="silo-py-")
        self.repo = os.path.join(self.dir, "repo")
        self.token = token
        self.env = dict(os.environ, STORAGE_BASE_PATH=self.repo, STORAGE_API_TOKEN=token, **(env_extra or {}))
        self.env.pop("SILO_URL", None)
        self.cli("init")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.dir, "serve.log"), "wb")
        self.proc = subprocess.Popen([silo_bin(), "serve", "--addr", f"127.0.0.1:{self.port}"], cwd=self.dir,
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=1).read()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("silo serve did not start: " + open(self.log.name).read())
                time.sleep(0.1)

    def cli(self, *args: str) -> str:
        """Runs the silo CLI on the same repository (from the same directory)."""
        r = subprocess.run([silo_bin(), *args], cwd=self.dir, env=self.env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"silo {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return r.stdout

    def cli_json(self, *args: str) -> Any:
        out = self.cli("--json", *args).strip().splitlines()
        doc = json.loads(out[-1])
        return doc.get("result", doc) if isinstance(doc, dict) and doc.get("type") == "summary" else doc

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def write_tree(root: str, files: List[tuple]) -> None:
    """files: (relative path, bytes or None for a directory, mode)."""
    for rel, data, mode in files:
        p = os.path.join(root, rel)
        if data is None:
            os.makedirs(p, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
