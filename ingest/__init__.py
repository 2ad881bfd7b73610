"""Ingest: readings from MQTT (JSON) and HJ 212 data loggers into PostgreSQL, losing nothing.

Stages: sources (`mqtt_source`, `gateway`) -> `pipeline` (bounded queue, `decode`, `rows`, batches)
-> `writer` (COPY into staging, merge, commit) -> acknowledgement -> batch subscribers (`resend`
gap monitor, the alert engine). See docs/mqtt.md and docs/hj212.md.
"""
