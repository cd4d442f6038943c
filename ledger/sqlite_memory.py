"""SQLite's memory statistics, switched off so connections in two threads work at once.

SQLite counts every allocation it makes (its memory statistics, on by default) under
one lock shared by the whole process. The SQLite that Python uses here is also built
without per-connection lookaside memory, so evaluating `json_extract` allocates on
every row, and every allocation takes that lock. Two connections running statements
in two threads then wait for each other at each allocation. Measured on this project's
2-core machines: a `json_extract` scan of 522k events took 0.6 s alone, and 2.1-2.3 s
for two of them in two threads (0.6 s in two processes). That is what the bulk
replay's threads do: they read the next range while the current one is written. With
the statistics off, the two scans also took 0.6 s in threads.

invledger does not read the statistics. SQLite accepts this setting only before it
starts, so it is stopped and started again around the change. Stopping it while a
connection is open is not allowed, so this is done only when SQLite holds no memory
at all: then no connection exists. Where the library cannot be reached (not Linux, or
a Python that links SQLite into its module without exporting it), or where SQLite is
already in use, nothing changes: everything works, the threads are only slower.
"""

from __future__ import annotations

import ctypes
import sys

_SQLITE_OK = 0
_SQLITE_CONFIG_MEMSTATUS = 9


def statistics_off() -> bool:
    """Switch SQLite's memory statistics off in this process if that is safe; True if
    they are off now."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import _sqlite3

        library = ctypes.CDLL(_sqlite3.__file__)
        used, malloc, free = (
            library.sqlite3_memory_used,
            library.sqlite3_malloc,
            library.sqlite3_free,
        )
        shutdown, config, initialize = (
            library.sqlite3_shutdown,
            library.sqlite3_config,
            library.sqlite3_initialize,
        )
    except (ImportError, OSError, AttributeError):
        return False
    used.restype = ctypes.c_int64
    malloc.restype = ctypes.c_void_p
    malloc.argtypes = [ctypes.c_int]
    free.argtypes = [ctypes.c_void_p]
    if used() != 0:
        return False  # memory held: a connection may be open
    probe = malloc(64)
    counting = used() != 0
    free(probe)
    if not counting:
        return True  # already off (a build that defaults to it)
    if shutdown() != _SQLITE_OK:
        return False
    try:
        switched = config(_SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == _SQLITE_OK
    finally:
        initialize()
    return bool(switched)
