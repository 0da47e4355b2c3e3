"""The tokens every test orchestrator is configured with."""

ADMIN = "admin-token-for-tests"
WORKER = "worker-token-for-tests"
