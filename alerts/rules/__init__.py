"""Alert rules: the engine (engine.py, composing one module per concern), its limits, averages and policy, and
the registry as the engine needs it (docs/architecture.md, "Inside the engine")."""
