# The two set-up commands of the README. Each first runs scripts/bootstrap (idempotent): Debian
# packages when missing, then .venv with envmon and its dev extras.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bootstrap lint typecheck clean

demo: bootstrap
	$(VENV)/bin/envmon demo

# Lint and type checks first (seconds), then the whole suite against real PostgreSQL and Mosquitto.
test: bootstrap
	$(VENV)/bin/ruff check envmon envmon_app ingest alerts dashboard device_sim benchmarks tests
	$(VENV)/bin/mypy
	$(PY) -m pytest

bootstrap:
	./scripts/bootstrap

lint: bootstrap
	$(VENV)/bin/ruff check envmon envmon_app ingest alerts dashboard device_sim benchmarks tests

typecheck: bootstrap
	$(VENV)/bin/mypy


clean:
	-$(VENV)/bin/envmon stack down
	rm -rf .envmon .pytest_cache .mypy_cache .ruff_cache
