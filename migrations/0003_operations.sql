-- Operations: quarantine of bad input, device state, alerts and their events, the notification
-- outbox and inspection reports.

CREATE TABLE quarantine (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    transport    text NOT NULL CHECK (transport IN ('mqtt', 'hj212')),
    source       text NOT NULL,
    device_mn    text,
    reason       text NOT NULL,
    detail       text,
    raw          bytea NOT NULL,
    raw_truncated boolean NOT NULL DEFAULT false
);
CREATE INDEX quarantine_received ON quarantine (received_at DESC);
CREATE INDEX quarantine_device ON quarantine (device_mn, received_at DESC);

CREATE TABLE device_state (
    device_id        integer PRIMARY KEY REFERENCES devices (id),
    last_seen_at     timestamptz,
    last_reading_at  timestamptz,
    last_seq         bigint,
    online           boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code             text NOT NULL UNIQUE,
    device_id        integer NOT NULL REFERENCES devices (id),
    pollutant        text NOT NULL,
    rule             text NOT NULL,
    category         text NOT NULL CHECK (category IN ('pollution', 'safety', 'device')),
    severity         text NOT NULL,
    state            text NOT NULL CHECK (state IN ('open', 'escalated', 'acknowledged', 'resolved', 'closed')),
    limit_id         bigint REFERENCES limits (id),
    opened_at        timestamptz NOT NULL,
    first_breach_at  timestamptz NOT NULL,
    peak_value       double precision,
    peak_at          timestamptz,
    last_value       double precision,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    disposition      text CHECK (disposition IN ('confirmed', 'false_alarm', 'device_fault', 'enforcement_case')),
    resolved_at      timestamptz,
    closed_at        timestamptz,
    escalation_level smallint NOT NULL DEFAULT 0,
    engine_state     jsonb NOT NULL DEFAULT '{}',
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- One open alert per device, pollutant and rule, even with two engine processes.
CREATE UNIQUE INDEX alerts_one_open
    ON alerts (device_id, pollutant, rule) WHERE state IN ('open', 'escalated', 'acknowledged');
CREATE INDEX alerts_state ON alerts (state, opened_at DESC);

CREATE TABLE alert_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerts (id),
    time      timestamptz NOT NULL,
    from_state text,
    to_state  text NOT NULL,
    actor     text NOT NULL,
    reason    text NOT NULL,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, time);

-- The outbox: written in the same transaction as the alert transition it announces.
CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id        bigint REFERENCES alerts (id),
    recipient_id    bigint REFERENCES recipients (id),
    phone           text NOT NULL,
    channel         text NOT NULL DEFAULT 'sms',
    reason          text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'undelivered', 'suppressed')),
    provider_id     text UNIQUE,
    error_code      text,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_alert ON notifications (alert_id);

CREATE TABLE reports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id      bigint REFERENCES alerts (id),
    site_id       bigint REFERENCES sites (id),
    kind          text NOT NULL CHECK (kind IN ('inspection', 'daily', 'monthly')),
    version       integer NOT NULL DEFAULT 1,
    locale        text NOT NULL,
    status        text NOT NULL CHECK (status IN ('draft', 'final')),
    html          text,
    pdf           bytea,
    generated_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    UNIQUE (alert_id, version, locale)
);
