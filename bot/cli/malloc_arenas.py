"""Fewer glibc malloc arenas for the serving process: a lower, steadier RSS.

glibc gives each thread that allocates its own arena (up to eight per core), and an
arena keeps freed memory for itself. The bot's threads (one per SQLite connection, the
group commit's, the executor's) each grew one in a storm: the peak RSS after 20,000
alerts was 186-196 MiB on SQLite, and 169-171 MiB with two arenas, at the same speed.
The setting is glibc's `MALLOC_ARENA_MAX`; when the operator has set that variable, it
stands. Other C libraries (musl, macOS) have no such call and are left as they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap the arenas of threads created from now on; True when the cap was set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
