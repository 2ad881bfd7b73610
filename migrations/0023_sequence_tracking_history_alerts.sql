-- Where each ingest process's sequence tracker (ingest/resend.py) stood: the highest seq it has seen
-- per MQTT device, saved in the same transaction as its open_sequence_gaps. A restart seeds from
-- these, not from device_state.last_seq: that one is written by another thread on its own clock,
-- and when ingest died after it and before the gaps' save, the restart began past a gap it had
-- noticed and never asked for it again (issue 15). device_state.last_seq still seeds the devices
-- the tracker had not saved yet (first start after this migration, a device new in the last second).
CREATE TABLE sequence_tracking (
    ingest     text NOT NULL,
    device_id  integer NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    high_seq   bigint NOT NULL,
    PRIMARY KEY (ingest, device_id)
);

-- HJ 212 history windows closed with data still missing ('abandoned' after every request, 'expired'
-- past what loggers keep) are data lost for good, like MQTT gaps given up on (sequence_gaps): the
-- alert engine raises the same seq_gap alert for each and marks it handled here, in the transaction
-- that records the alert.
ALTER TABLE hj212_history_requests ADD COLUMN handled_at timestamptz;
CREATE INDEX hj212_history_requests_unhandled ON hj212_history_requests (id)
    WHERE outcome IN ('abandoned', 'expired') AND handled_at IS NULL;
