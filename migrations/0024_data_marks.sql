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
-- mark_reason says why. Active marks never overlap on a device and pollutant (dashboard/review.py refuses
-- an overlapping proposal under a lock on the device row), so the join yields at most one mark per reading.
-- Why the marks are spread over the UTC days they touch and joined on (device, day): a join on the time
-- range alone compared every reading with every mark of its device (12.5 s for a month of one device,
-- 260k readings, with 400 marks in its history; 0.2 s without the view). The equality on the day lets the
-- planner hash the marks once and look at the one or two of the reading's day.
-- Conditions on readings' columns (device_id, pollutant, time) reach the readings scan through this view.
CREATE VIEW data_mark_days AS
SELECT m.id, m.device_id, m.pollutant, m.start_at, m.end_at, m.reason, day
FROM data_marks m,
     generate_series(date_trunc('day', m.start_at AT TIME ZONE 'UTC'), m.end_at AT TIME ZONE 'UTC', INTERVAL '1 day') AS day
WHERE m.state = 'active';

CREATE VIEW readings_reviewed AS
SELECT r.time, r.device_id, r.pollutant, r.basis, r.value, r.seq, r.received_at,
       r.flag AS logger_flag,
       CASE WHEN m.id IS NULL THEN r.flag WHEN m.reason = 'maintenance' THEN 'M' WHEN m.reason = 'calibration' THEN 'C'
            ELSE 'D' END AS flag,
       m.reason AS mark_reason,
       m.id AS mark_id
FROM readings r
LEFT JOIN data_mark_days m
    ON m.device_id = r.device_id AND m.day = date_trunc('day', r.time AT TIME ZONE 'UTC')
   AND (m.pollutant IS NULL OR m.pollutant = r.pollutant) AND m.start_at <= r.time AND r.time < m.end_at;
