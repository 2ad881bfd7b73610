"""Alert rules: the engine, its limits, averages and policy, and the registry as the engine needs it."""
