"""Recognition core (placeholder docstring, completed below)."""
