"""Alerts by stage: rules/ (the engine), notify/ (who is told, SMS), reports/; the step and service on top."""
