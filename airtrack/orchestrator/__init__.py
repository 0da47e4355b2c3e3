"""Orchestrator: API, membership, balancer, control loop, leader election."""
