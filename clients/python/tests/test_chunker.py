"""The pure-Python chunker cuts where silo's Go chunker cuts."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest

from silo_client import chunker

from _support import ROOT

POL = 0x3DA3358B4DC173  # a degree-53 irreducible polynomial (the Go tests' fixed one)


class ChunkerCrossTest(unittest.TestCase):
    def test_same_cuts_as_go_on_64_mib(self) -> None:
        r = random.Random(20261130)
        d = tempfile.mkdtemp(prefix="silo-chunk-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "data.bin")
        with open(path, "wb") as f:
            for i in range(64):
                if i % 8 == 7:
                    f.write(bytes(1 << 20))  # a run of zeros: cut at MAX or by the window
                else:
                    f.write(r.getrandbits(8 * (1 << 20)).to_bytes(1 << 20, "little"))
            f.write(b"tail" * 1000)
        go = subprocess.run(["go", "run", "./bench/chunkcuts", format(POL, "x"), path], cwd=ROOT,
                            capture_output=True, text=True, check=True)
        want = [int(x) for x in go.stdout.split()]
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            got = list(chunker.chunk_lengths(f, POL))
        secs = time.perf_counter() - t0
        size = os.path.getsize(path)
        print(f"\npure-Python chunker: {size / secs / 1e6:.1f} MB/s over {size >> 20} MiB ({len(got)} chunks)")
        self.assertEqual(sum(got), size)
        self.assertEqual(got, want)
        self.assertGreater(len(want), 20)

    def test_small_inputs(self) -> None:
        import io
        for n in (0, 1, chunker.MIN_SIZE - 1, chunker.MIN_SIZE, chunker.MIN_SIZE + 1):
            got = list(chunker.chunk_lengths(io.BytesIO(b"x" * n), POL))
            self.assertEqual(got, [n] if n else [])


if __name__ == "__main__":
    unittest.main()
