-- Readings on plain PostgreSQL (the TimescaleDB variant of this migration makes the same table a
-- hypertable). One row per device, pollutant, basis and time; redelivery is harmless.
-- No foreign keys on this table: ingest validates device and pollutant before COPY, and an FK
-- check per row would cost throughput at 100k rows/s.

CREATE TABLE readings (
    time         timestamptz NOT NULL,
    device_id    integer NOT NULL,
    pollutant    text NOT NULL,
    basis        text NOT NULL DEFAULT 'instant' CHECK (basis IN ('instant', 'minute', 'hour', 'day')),
    value        double precision NOT NULL,
    flag         text NOT NULL DEFAULT 'N' CHECK (flag IN ('N', 'F', 'M', 'S', 'D', 'C', 'T', 'B')),
    seq          bigint NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX readings_key ON readings (device_id, pollutant, basis, time);
CREATE INDEX readings_time ON readings (time DESC);
