-- Sequence gaps ingest has noticed and is still asking devices to resend (ingest/resend.py), so that
-- a restarted ingest asks again for what it noticed before a crash. `ingest` is the MQTT client id
-- of the process that owns the rows (several may share a subscription). Rewritten when the open
-- gaps change, at most once a second, off the readings' path; given-up gaps go to sequence_gaps.
CREATE TABLE open_sequence_gaps (
    ingest     text NOT NULL,
    device_id  integer NOT NULL REFERENCES devices (id),
    first_seq  bigint NOT NULL,
    last_seq   bigint NOT NULL CHECK (last_seq >= first_seq),
    attempts   integer NOT NULL CHECK (attempts >= 0),
    PRIMARY KEY (ingest, device_id, first_seq)
);
