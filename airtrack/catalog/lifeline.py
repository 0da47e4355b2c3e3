"""Pool workers that end with the process that started them, however it ends.

``catalog add`` fingerprints in a forkserver pool. When the CLI is killed with SIGKILL
nothing of it runs again, and the pool outlived it: each worker waits for work on a
queue whose write end it holds itself, the forkserver waits for every holder of its
"alive" pipe (the workers hold it too), and the resource tracker waits for all of them.
Four kills left 15 processes and ~1.3 GB behind.

:func:`tie_to` is the pool initializer that breaks that circle from the bottom: each
worker watches the CLI process through a pidfd (readable once it has exited, reaped or
not) and exits with it; with the workers gone the forkserver and the resource tracker
see end-of-file and exit by themselves. A parent-death signal also ends a worker whose
own parent (the forkserver) dies first.
"""

from __future__ import annotations

import os
import select
import signal
import threading
import time

from airtrack.processes import die_with_parent, pid_alive

#: Poll period where pidfds are missing (not Linux ≥ 5.3).
_POLL_S = 0.5


def tie_to(parent_pid: int) -> None:
    """Pool initializer: this process exits as soon as ``parent_pid`` has exited.

    Ctrl-C reaches the whole process group: the worker ignores it and leaves stopping to
    the parent (which ends its pool), instead of dying mid-file with a traceback each.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(signal.SIGKILL)
    threading.Thread(target=_watch, args=(parent_pid,), name="lifeline", daemon=True).start()


def _watch(parent_pid: int) -> None:
    try:
        fd = os.pidfd_open(parent_pid)
    except ProcessLookupError:  # gone before we could watch it
        os._exit(1)
    except (AttributeError, OSError):
        while pid_alive(parent_pid):
            time.sleep(_POLL_S)
    else:
        select.select([fd], [], [])
    # os._exit: nothing of a half-done fingerprint is worth flushing, and the normal
    # exit path would wait on queues whose other end is dead.
    os._exit(1)
