"""Tar streams: a directory sent as tar without holding it in memory, and a
downloaded tar unpacked with the path-escape rules of `silo restore`."""

from __future__ import annotations

import os
import queue
import stat
import tarfile
import threading
from typing import BinaryIO, Callable, Iterator, List, Optional, Tuple

from .errors import SiloError, UnsafeArchive

ProgressFn = Optional[Callable[[float], None]]

_BLOCK = 1 << 20


def tree_size(root: str) -> Tuple[int, int]:
    """The number of regular files under root and their bytes (symlinks are
    not followed)."""
    files = size = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, n))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
    return files, size


class _Progress:
    """Reports the share of a total that has been read, rising to 100 only
    when the caller says it is done."""

    def __init__(self, total: int, fn: ProgressFn) -> None:
        self.total, self.fn, self.done, self.last = max(total, 1), fn, 0, -1.0

    def add(self, n: int) -> None:
        self.done += n
        if self.fn is None:
            return
        pct = min(99.0, round(100.0 * self.done / self.total, 1))
        if pct > self.last:
            self.last = pct
            self.fn(pct)

    def finish(self) -> None:
        if self.fn is not None:
            self.fn(100.0)


class _CountingFile:
    def __init__(self, f: BinaryIO, prog: _Progress) -> None:
        self.f, self.prog = f, prog

    def read(self, n: int = -1) -> bytes:
        b = self.f.read(n)
        self.prog.add(len(b))
        return b


class _QueueWriter:
    """A file object whose writes go into a bounded queue, in blocks."""

    def __init__(self, q: "queue.Queue[Optional[bytes]]") -> None:
        self.q, self.buf = q, bytearray()

    def write(self, b: bytes) -> int:
        self.buf += b
        while len(self.buf) >= _BLOCK:
            self.q.put(bytes(self.buf[:_BLOCK]))
            del self.buf[:_BLOCK]
        return len(b)

    def flush(self) -> None:
        if self.buf:
            self.q.put(bytes(self.buf))
            self.buf.clear()


def tar_stream(root: str, progress: Optional[_Progress] = None) -> Iterator[bytes]:
    """Yields root as a PAX tar stream (paths relative to root), written by a
    thread into a bounded queue: memory stays at a few MiB whatever the size
    of the tree. An error while reading the tree is raised by the iterator."""
    if not os.path.isdir(root):
        raise SiloError(f"{root}: not a directory", code="invalid")
    q: "queue.Queue[Optional[bytes]]" = queue.Queue(maxsize=8)
    failure: List[BaseException] = []

    def produce() -> None:
        w = _QueueWriter(q)
        try:
            with tarfile.open(fileobj=w, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[arg-type]
                for dirpath, dirnames, filenames in os.walk(root):
                    dirnames.sort()
                    rel_dir = os.path.relpath(dirpath, root)
                    names = sorted(dirnames + filenames)
                    for n in names:
                        full = os.path.join(dirpath, n)
                        arc = n if rel_dir == "." else os.path.join(rel_dir, n)
                        arc = arc.replace(os.sep, "/")
                        ti = tar.gettarinfo(full, arcname=arc)
                        if ti is None:
                            continue  # a socket or the like
                        if ti.isreg():
                            with open(full, "rb") as f:
                                tar.addfile(ti, _CountingFile(f, progress) if progress else f)  # type: ignore[arg-type]
                        elif ti.isdir() or ti.issym() or ti.islnk():
                            tar.addfile(ti)
            w.flush()
        except BaseException as e:  # handed to the consumer
            failure.append(e)
        finally:
            q.put(None)

    t = threading.Thread(target=produce, name="silo-tar", daemon=True)
    t.start()
    try:
        while True:
            b = q.get()
            if b is None:
                break
            yield b
    finally:
        # a consumer that stops early: drain so the thread ends
        while t.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        t.join()
    if failure:
        raise failure[0]


def _safe_target(dest: str, name: str) -> str:
    """The path under dest for a member name, refusing one that leaves dest:
    absolute, with .., or through a symlink met on the way."""
    clean = name.replace("\\", "/")
    while clean.startswith("./"):
        clean = clean[2:]
    clean = clean.rstrip("/")
    if not clean or clean == ".":
        return dest
    parts = clean.split("/")
    if clean.startswith("/") or any(p in ("..",) for p in parts) or (len(parts[0]) == 2 and parts[0][1] == ":"):
        raise UnsafeArchive(f"tar entry {name!r} leaves the destination {dest}", code="unsafe_path")
    cur = dest
    for p in parts[:-1]:
        if p in ("", "."):
            continue
        cur = os.path.join(cur, p)
        if os.path.islink(cur):
            raise UnsafeArchive(f"tar entry {name!r} goes through the symlink {cur}", code="unsafe_path")
    return os.path.join(dest, *[p for p in parts if p not in ("", ".")])


def unpack(stream: BinaryIO, dest: str) -> Tuple[int, int]:
    """Unpacks a tar stream into dest (created if needed) and returns the
    regular files and bytes written. Modes and mtimes are set (directories'
    last); symlinks are made as they are, and nothing is written through
    one; devices and the like are skipped."""
    os.makedirs(dest, exist_ok=True)
    dest = os.path.abspath(dest)
    files = size = 0
    dirs: List[Tuple[str, int, float]] = []
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for m in tar:
            target = _safe_target(dest, m.name)
            if target == dest:
                if m.isdir():
                    dirs.append((dest, m.mode, m.mtime))
                continue
            if os.path.lexists(target) and not (m.isdir() and os.path.isdir(target) and not os.path.islink(target)):
                if os.path.isdir(target) and not os.path.islink(target):
                    raise SiloError(f"{target}: a directory is in the way of a {'file' if m.isreg() else 'link'}", code="exists")
                os.unlink(target)
            parent = os.path.dirname(target)
            os.makedirs(parent, exist_ok=True)
            if m.isdir():
                os.makedirs(target, exist_ok=True)
                dirs.append((target, m.mode, m.mtime))
            elif m.isreg():
                src = tar.extractfile(m)
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
                fd = os.open(target, flags, 0o600)
                with os.fdopen(fd, "wb") as out:
                    n = 0
                    while True:
                        b = src.read(_BLOCK) if src else b""
                        if not b:
                            break
                        out.write(b)
                        n += len(b)
                if n != m.size:
                    raise SiloError(f"{target}: got {n} bytes, the archive says {m.size}", code="corrupt")
                os.chmod(target, m.mode & 0o7777)
                os.utime(target, (m.mtime, m.mtime))
                files += 1
                size += n
            elif m.issym():
                os.symlink(m.linkname, target)
                try:
                    os.utime(target, (m.mtime, m.mtime), follow_symlinks=False)
                except (NotImplementedError, OSError):
                    pass
            elif m.islnk():
                os.link(_safe_target(dest, m.linkname), target)
    for path, mode, mtime in reversed(dirs):
        os.chmod(path, mode & 0o7777)
        os.utime(path, (mtime, mtime))
    return files, size


__all__ = ["tar_stream", "unpack", "tree_size", "_Progress"]
