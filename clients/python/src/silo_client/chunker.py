"""silo's content-defined chunking in pure Python: the Rabin fingerprint of
restic/chunker over the repository's polynomial (GET /repository), 512 KiB
minimum, 1 MiB average, 8 MiB maximum chunks, cutting exactly where the Go
implementation cuts (tests/test_chunker.py checks 64 MiB against it).

It is far too slow to feed silo's blob-dedup protocol (a few MB/s against
the 100 MB/s that would need; see the README), so StorageManager streams
tar instead; it stays for the cross-test and for callers who want chunk
boundaries of small files."""

from __future__ import annotations

from typing import BinaryIO, Iterator, List, Tuple

WINDOW = 64
MIN_SIZE = 512 * 1024
MAX_SIZE = 8 * 1024 * 1024
SPLIT_MASK = (1 << 20) - 1


def _deg(p: int) -> int:
    return p.bit_length() - 1


def _mod(x: int, d: int) -> int:
    dd = _deg(d)
    while x and _deg(x) >= dd:
        x ^= d << (_deg(x) - dd)
    return x


def tables(pol: int) -> Tuple[List[int], List[int]]:
    """The out (slide a byte out of the window) and mod (reduce) tables."""
    out = []
    for b in range(256):
        h = _mod(b, pol)
        for _ in range(WINDOW - 1):
            h = _mod(h << 8, pol)
        out.append(h)
    k = _deg(pol)
    mod = [_mod(b << k, pol) | (b << k) for b in range(256)]
    return out, mod


def chunk_lengths(f: BinaryIO, pol: int) -> Iterator[int]:
    """The lengths of the chunks f's bytes are cut into."""
    if _deg(pol) != 53:
        raise ValueError("the polynomial must have degree 53")
    out_t, mod_t = tables(pol)
    shift = _deg(pol) - 8
    buf = b""
    eof = False
    while True:
        # at least MAX_SIZE bytes from the chunk's start, or all there is
        while not eof and len(buf) < MAX_SIZE:
            more = f.read(MAX_SIZE)
            if not more:
                eof = True
            buf += more
        if not buf:
            return
        n = len(buf)
        if n <= MIN_SIZE:
            yield n
            buf = b""
            continue
        # reset: the window holds one byte 1; MIN_SIZE-64 bytes are skipped
        window = [1] + [0] * (WINDOW - 1)
        wpos = 1
        digest = 1
        cut = min(n, MAX_SIZE)
        limit = cut
        i = MIN_SIZE - WINDOW
        while i < limit:
            b = buf[i]
            o = window[wpos]
            window[wpos] = b
            digest ^= out_t[o]
            wpos = (wpos + 1) & 63
            digest = ((digest << 8) | b) ^ mod_t[digest >> shift]
            i += 1
            if (digest & SPLIT_MASK) == 0 and i >= MIN_SIZE:
                cut = i
                break
        yield cut
        buf = buf[cut:]
