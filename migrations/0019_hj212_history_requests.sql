-- HJ 212 history requests (ingest/history.py): minute, hour and day data a logger skipped, asked for
-- again with CN 2051/2061/2031, so that a gateway restarted while a gap was open asks again for it.
-- One row per gap window; open while `closed_at` is NULL. `attempts` counts the requests sent so
-- far (bounded: the window is abandoned after the last one). The latest data time per logger and
-- basis needs no table of its own: it is read from `readings`, committed with the rows themselves.
CREATE TABLE hj212_history_requests (
    id            bigserial PRIMARY KEY,
    device_id     integer NOT NULL REFERENCES devices (id),
    basis         text NOT NULL CHECK (basis IN ('minute', 'hour', 'day')),
    begin_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL CHECK (end_time >= begin_time),
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    opened_at     timestamptz NOT NULL,
    requested_at  timestamptz,
    closed_at     timestamptz,
    outcome       text CHECK (outcome IN ('filled', 'abandoned', 'expired')),
    CHECK ((closed_at IS NULL) = (outcome IS NULL))
);

-- At most one open window per logger, basis and start; the gateway finds its open windows by it.
CREATE UNIQUE INDEX hj212_history_requests_open
    ON hj212_history_requests (device_id, basis, begin_time) WHERE closed_at IS NULL;
