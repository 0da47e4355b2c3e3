"""Process startup, above the domain: wires the database, the API, the operations runtime
and the control loop into one running ``airtrack orchestrator``.

Nothing in the domain packages imports this package; only the CLI does.
"""
