"""alerts component (built by its own issue)."""
