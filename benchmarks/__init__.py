"""Benchmarks: one module per `envmon bench NAME`, each with `main(argv) -> int` printing one JSON object.

They sit above the features (they drive them end to end) and below nothing: features never import them.
Run them as `envmon bench NAME` or `python -m benchmarks.NAME`.
"""
