-- Data flags outside the HJ 212-2017 list are stored as sent, not dropped: P (power failure) of
-- HJ/T 212-2005 and letters of later revisions. Only N and S count as normal data (alerts/engine.py,
-- the aggregates of 0004 average flag N only), so an unknown letter is kept as abnormal. The column
-- keeps refusing anything that is not one ASCII letter; ingest quarantines such flags before COPY.
-- ascii() and octet_length() instead of a regular expression: this check runs for every row.

ALTER TABLE readings DROP CONSTRAINT readings_flag_check;
ALTER TABLE readings ADD CONSTRAINT readings_flag_check
    CHECK (octet_length(flag) = 1 AND (ascii(flag) BETWEEN 65 AND 90 OR ascii(flag) BETWEEN 97 AND 122));
