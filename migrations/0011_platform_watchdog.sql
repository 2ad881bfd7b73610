-- The platform watchdog (issue 15 §2): services' heartbeats, platform fault episodes, and the
-- watchdog's own rows in the notifications outbox.

-- Each running ingest and alert service process writes its health here every few seconds, and deletes
-- its row when it stops cleanly; a row that stops moving is a process that died or hangs.
CREATE TABLE service_heartbeats (
    service     text NOT NULL,
    instance    text NOT NULL,
    role        text NOT NULL DEFAULT 'active',
    ok          boolean NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    started_at  timestamptz NOT NULL,
    beat_at     timestamptz NOT NULL,
    PRIMARY KEY (service, instance)
);

-- One platform fault at a time: opened with one SMS to the on-call administrators, its causes updated
-- while it lasts, resolved once calm for the recovery hold (one more SMS). `districts` are those whose
-- device alerts are held back; `all_districts` when a service itself is down.
CREATE TABLE platform_faults (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    opened_at      timestamptz NOT NULL,
    resolved_at    timestamptz,
    calm_since     timestamptz,
    causes         jsonb NOT NULL,
    districts      text[] NOT NULL DEFAULT '{}',
    all_districts  boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL
);
CREATE UNIQUE INDEX platform_faults_one_open ON platform_faults ((true)) WHERE resolved_at IS NULL;

-- Who wrote an outbox row: the alert service's sender claims 'alerts' rows, the watchdog's sender its
-- own, so the watchdog pages even while the alert service is down.
ALTER TABLE notifications
    ADD COLUMN source text NOT NULL DEFAULT 'alerts' CHECK (source IN ('alerts', 'watchdog')),
    ADD COLUMN platform_fault_id bigint REFERENCES platform_faults (id);
