-- Readings on TimescaleDB (2.13 or later): the same table as the plain variant, as a hypertable
-- with one-day chunks, compression of chunks older than the replay window (7 days) segmented by
-- device and pollutant, and a retention policy. The SQL follows the TimescaleDB documentation
-- (create_hypertable with by_range; ALTER TABLE ... SET (timescaledb.compress ...);
-- add_compression_policy; add_retention_policy).

CREATE EXTENSION IF NOT EXISTS timescaledb;

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

SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'));

-- Every unique index on a hypertable includes the time column.
CREATE UNIQUE INDEX readings_key ON readings (device_id, pollutant, basis, time);

-- All key columns are in segmentby or orderby, so ON CONFLICT works on compressed chunks too.
ALTER TABLE readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id, pollutant',
    timescaledb.compress_orderby = 'basis, time DESC'
);

-- Compress only chunks older than the longest replay window (device resends, HJ 212 history).
SELECT add_compression_policy('readings', INTERVAL '7 days');

-- Raw readings are kept five years; the continuous aggregates keep their own history.
SELECT add_retention_policy('readings', INTERVAL '5 years');
