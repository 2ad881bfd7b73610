"""device_sim component (built by its own issue)."""
