"""``python -m airtrack.testing.faultproxy``: the proxy as a process (see the package doc)."""

from airtrack.testing.faultproxy.control import main

main()
