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

invledger reads neither the statistics nor SQLite's heap limits (which need them, and
which it does not set). SQLite accepts the setting only before it starts, so it is
stopped and started again around the change, and stopping it is allowed only while
nothing uses it. So this is done only when the process runs one thread (no other
can enter SQLite meanwhile: the calls below also keep the interpreter lock) and
SQLite holds no memory at all, which while it counts means no connection or
statement exists. `ledger.store` does it when first imported, which the CLI does
before it opens anything. Otherwise, and where the library cannot be reached (not
Linux, or a Python that links SQLite into its module without exporting it), or with
INVLEDGER_SQLITE_STATISTICS=keep, nothing changes: everything works, the threads are
only slower.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Any

_SQLITE_OK = 0
_SQLITE_CONFIG_MEMSTATUS = 9
KEEP_VARIABLE = "INVLEDGER_SQLITE_STATISTICS"
_USED = (
    "sqlite3_memory_used",
    "sqlite3_malloc",
    "sqlite3_free",
    "sqlite3_shutdown",
    "sqlite3_config",
    "sqlite3_initialize",
)


def library() -> Any:
    """The SQLite library Python's `sqlite3` module uses, its calls holding the
    interpreter lock; None where it cannot be reached."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import _sqlite3

        found = ctypes.PyDLL(_sqlite3.__file__)
        for name in _USED:
            getattr(found, name)
    except (ImportError, OSError, AttributeError):
        return None
    found.sqlite3_memory_used.restype = ctypes.c_int64
    found.sqlite3_malloc.restype = ctypes.c_void_p
    found.sqlite3_malloc.argtypes = [ctypes.c_int]
    found.sqlite3_free.argtypes = [ctypes.c_void_p]
    return found


def statistics_off() -> bool:
    """Switch SQLite's memory statistics off in this process if that is safe; True if
    they are off now."""
    if os.environ.get(KEEP_VARIABLE, "").strip().lower() == "keep":
        return False
    sqlite = library()
    if sqlite is None or threading.active_count() != 1:
        return False
    if sqlite.sqlite3_memory_used() != 0:
        return False  # memory held: a connection may be open
    probe = sqlite.sqlite3_malloc(64)
    if not probe:
        return False
    counting = sqlite.sqlite3_memory_used() != 0
    sqlite.sqlite3_free(probe)
    if not counting:
        return True  # already off (a build that defaults to it, or done before)
    if sqlite.sqlite3_shutdown() != _SQLITE_OK:
        return False
    try:
        switched = sqlite.sqlite3_config(_SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == _SQLITE_OK
    finally:
        started = sqlite.sqlite3_initialize() == _SQLITE_OK
    return bool(switched and started)
