-- Data flags outside the HJ 212-2017 list are stored as sent, not dropped: P (power failure) of
-- HJ/T 212-2005 and letters of later revisions. Only N and S count as normal data (alerts/engine.py,
-- the continuous aggregates of 0004 average flag N only), so an unknown letter is kept as abnormal.
-- The column keeps refusing anything that is not one ASCII letter; ingest quarantines such flags.
--
-- TimescaleDB releases before 2.19 refuse constraint changes on a hypertable with compression
-- enabled (feature_not_supported). Then the chunks are decompressed, compression is switched off
-- for the change and set up again exactly as 0002 did; the policy compresses old chunks again.

DO $$
BEGIN
    ALTER TABLE readings DROP CONSTRAINT readings_flag_check;
    ALTER TABLE readings ADD CONSTRAINT readings_flag_check
        CHECK (octet_length(flag) = 1 AND (ascii(flag) BETWEEN 65 AND 90 OR ascii(flag) BETWEEN 97 AND 122));
EXCEPTION WHEN feature_not_supported THEN
    PERFORM decompress_chunk(c, if_compressed => true) FROM show_chunks('readings') AS c;
    PERFORM remove_compression_policy('readings', if_exists => true);
    ALTER TABLE readings SET (timescaledb.compress = false);
    ALTER TABLE readings DROP CONSTRAINT readings_flag_check;
    ALTER TABLE readings ADD CONSTRAINT readings_flag_check
        CHECK (octet_length(flag) = 1 AND (ascii(flag) BETWEEN 65 AND 90 OR ascii(flag) BETWEEN 97 AND 122));
    ALTER TABLE readings SET (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'device_id, pollutant',
        timescaledb.compress_orderby = 'basis, time DESC'
    );
    PERFORM add_compression_policy('readings', INTERVAL '7 days');
END
$$;
