"""dashboard component (built by its own issue)."""
