"""Process hygiene shared by every part that starts or watches processes (Linux first).

- :func:`pid_alive`: whether a pid is a live process (a zombie is not).
- :func:`die_with_parent`: ask the kernel to signal this process when its parent dies
  (``PR_SET_PDEATHSIG``), the one thing no handler in a parent killed with SIGKILL can do.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

#: prctl(2) option: the signal this process gets when its parent thread exits.
_PR_SET_PDEATHSIG = 1


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a killed process not yet reaped by its parent is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """This process gets ``sig`` when the thread that started it exits (Linux; else no-op)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
