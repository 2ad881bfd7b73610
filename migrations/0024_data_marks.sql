-- Data review (数据审核/标记): people mark a period of one device's data (optionally one pollutant) as
-- maintenance, calibration, device fault or invalid. The readings themselves are never changed: the
-- marks live here and `readings_reviewed` lays the approved ones over the logger's flags.
-- A mark that covers a past exceedance starts 'pending' and has no effect until a second person
-- approves it (four eyes); 'withdrawn' and 'rejected' marks have no effect either, but stay for the audit.

CREATE TABLE data_marks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    integer NOT NULL REFERENCES devices (id),
    pollutant    text,  -- NULL: every pollutant of the device
    start_at     timestamptz NOT NULL,
    end_at       timestamptz NOT NULL,
    reason       text NOT NULL CHECK (reason IN ('maintenance', 'calibration', 'device_fault', 'invalid')),
    evidence     text NOT NULL,
    state        text NOT NULL CHECK (state IN ('pending', 'active', 'rejected', 'withdrawn')),
    proposed_by  text NOT NULL,
    proposed_at  timestamptz NOT NULL,
    decided_by   text,
    decided_at   timestamptz,
    covers_exceedances integer NOT NULL DEFAULT 0,
    CHECK (start_at < end_at),
    -- The proposer never approves their own mark, whatever the code above does.
    CHECK (decided_by IS NULL OR state = 'withdrawn' OR decided_by <> proposed_by)
);
CREATE INDEX data_marks_device ON data_marks (device_id, start_at) WHERE state = 'active';
CREATE INDEX data_marks_state ON data_marks (state, proposed_at DESC);

-- Every step of a mark: who, when, why. Never updated or deleted.
CREATE TABLE data_mark_events (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mark_id  bigint NOT NULL REFERENCES data_marks (id),
    time     timestamptz NOT NULL,
    actor    text NOT NULL,
    action   text NOT NULL CHECK (action IN ('proposed', 'activated', 'approved', 'rejected', 'withdrawn')),
    note     text NOT NULL DEFAULT ''
);
CREATE INDEX data_mark_events_mark ON data_mark_events (mark_id, time);

-- Readings with the flag that counts after review: an active mark's letter (M maintenance, C
-- calibration, D device fault or invalid; HJ 212-2017 data flags) replaces the logger's flag, and
-- mark_reason says why. The first mark by id wins where marks overlap. Conditions on readings'
-- columns (device_id, pollutant, time) reach the readings scan through this view.
CREATE VIEW readings_reviewed AS
SELECT r.time, r.device_id, r.pollutant, r.basis, r.value, r.seq, r.received_at,
       r.flag AS logger_flag,
       coalesce(m.flag, r.flag) AS flag,
       m.reason AS mark_reason,
       m.id AS mark_id
FROM readings r
LEFT JOIN LATERAL (
    SELECT dm.id, dm.reason,
           CASE dm.reason WHEN 'maintenance' THEN 'M' WHEN 'calibration' THEN 'C' ELSE 'D' END AS flag
    FROM data_marks dm
    WHERE dm.device_id = r.device_id AND dm.state = 'active'
      AND (dm.pollutant IS NULL OR dm.pollutant = r.pollutant)
      AND dm.start_at <= r.time AND r.time < dm.end_at
    ORDER BY dm.id LIMIT 1
) m ON true;
