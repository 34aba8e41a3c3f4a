"""What a long-lived worker asks of the C allocator (glibc's malloc) so that its memory follows its load.

Two habits of glibc keep a worker's resident set at its largest moment long after it: freeing one large
block (an argon2 hash's 7 MiB, a big envelope's tree) raises the size from which blocks are mapped on
their own, so the next ones come from the heap and stay there; and the heap gives back only what is free
at its very top. A fixed threshold (mallopt M_MMAP_THRESHOLD) keeps large blocks mapped and returned
when freed, few arenas (M_ARENA_MAX) keep the request threads' free blocks in common, and a trim
(malloc_trim) after a large request returns the free pages inside the heap.
Elsewhere (musl, macOS) the allocator is left as it is.
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
# glibc's own starting value, kept for good instead of moving with the largest block freed so far.
MMAP_THRESHOLD_BYTES = 128 * 1024
# Each thread that allocates would otherwise get an arena of its own, with its own free blocks that no other
# thread's allocations reuse; the interpreter lock serialises the threads' work anyway.
ARENAS = 2
# A request this large leaves enough freed pages behind to be worth a trim (a few milliseconds at most).
TRIM_AFTER_BODY_BYTES = 64 * 1024


def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def configure_allocator() -> None:
    """In gunicorn's master, before the workers are forked: they inherit it."""
    if _LIBC is not None:
        _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        _LIBC.mallopt(M_ARENA_MAX, ARENAS)


def trim_after(body_bytes: int) -> None:
    """After a request of `body_bytes`: the heap's free pages back to the system, if it was a large one."""
    if _LIBC is not None and body_bytes >= TRIM_AFTER_BODY_BYTES:
        _LIBC.malloc_trim(0)
