-- The alert engine: its persisted state, the sequence gaps ingest gave up on, silences, SMS replies,
-- and the alert and notification columns the lifecycle and the outbox need.

-- One snapshot of the pure engine per shard (a district, or '*' for all), written in the same
-- transaction as the transitions it produced, so a restart continues every hold timer.
CREATE TABLE engine_snapshots (
    shard     text PRIMARY KEY,
    state     jsonb NOT NULL,
    saved_at  timestamptz NOT NULL
);

-- Messages a device never sent again after every resend request (written by ingest).
CREATE TABLE sequence_gaps (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id     integer NOT NULL REFERENCES devices (id),
    first_seq     bigint NOT NULL,
    last_seq      bigint NOT NULL CHECK (last_seq >= first_seq),
    abandoned_at  timestamptz NOT NULL,
    handled_at    timestamptz
);
CREATE INDEX sequence_gaps_unhandled ON sequence_gaps (id) WHERE handled_at IS NULL;

-- Silences: alerts are recorded, their notifications are not sent.
CREATE TABLE silences (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     bigint REFERENCES sites (id),
    device_id   integer REFERENCES devices (id),
    rule        text,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK (site_id IS NOT NULL OR device_id IS NOT NULL)
);

-- Inbound SMS (replies that acknowledge alerts), kept whatever their outcome.
CREATE TABLE sms_replies (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    from_phone   text NOT NULL,
    body         text NOT NULL,
    provider_id  text UNIQUE,
    alert_id     bigint REFERENCES alerts (id),
    outcome      text NOT NULL
);

-- latched: reached a severity that stays open until acknowledged; unacknowledged_since: when the
-- current wait for a person began (escalation delays count from it).
ALTER TABLE alerts
    ADD COLUMN condition_active boolean NOT NULL DEFAULT true,
    ADD COLUMN latched boolean NOT NULL DEFAULT false,
    ADD COLUMN unacknowledged_since timestamptz,
    ADD COLUMN limit_value double precision,
    ADD COLUMN note text;

-- A grouped SMS covers several alerts (alert_ids; alert_id is the first). severity is what the
-- message announced; possible_landings counts tries that may have reached the provider (a timeout
-- after sending), so a message is never sent more than twice.
ALTER TABLE notifications
    ADD COLUMN alert_ids bigint[] NOT NULL DEFAULT '{}',
    ADD COLUMN severity text,
    ADD COLUMN escalation_step smallint NOT NULL DEFAULT 0,
    ADD COLUMN possible_landings integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error text;
CREATE INDEX notifications_alert_ids ON notifications USING gin (alert_ids);
