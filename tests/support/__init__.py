"""What the tests share: waiting, starting processes, running the CLI, servers.

- :mod:`tests.support.wait`: :func:`until` (and :func:`until_async` for coroutines), the
  one way a test waits for something observable, with a bounded deadline.
- :mod:`tests.support.processes`: :func:`spawn` and :func:`new_cluster`; every process a test
  starts is in a new process group, gets SIGKILL when the pytest process dies (even by
  SIGKILL), and is killed at the end of the session whatever ended it.
- :mod:`tests.support.cli`: :func:`run_cli`, ``python -m airtrack ...`` in a subprocess;
  :func:`invoke_cli`, the same command line in this process (a command's logic).
- :mod:`tests.support.orchestrator`: :class:`Replica`, a real ``airtrack orchestrator``
  process on port 0 (it reports the port it got).

Test modules import from here; nothing here imports a test module.
"""

from tests.support.cli import invoke_cli, run_cli
from tests.support.processes import kill_all, new_cluster, spawn, stop
from tests.support.wait import until, until_async

__all__ = [
    "invoke_cli",
    "kill_all",
    "new_cluster",
    "run_cli",
    "spawn",
    "stop",
    "until",
    "until_async",
]
