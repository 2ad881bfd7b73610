"""The registry: plants, devices, limits and recipients, loaded from strict TOML files."""
