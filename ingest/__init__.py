"""ingest component (built by its own issue)."""
