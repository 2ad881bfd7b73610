-- The alert engine's catch-up (alerts/catchup.py) reads the readings received since its last snapshot
-- whenever it restarts or its bus reconnects. Its query also bounds `time` (a week back), so only the
-- newest chunks are searched; a BRIN index on received_at in each of them keeps that search to a few pages.
-- Releases that refuse a new index on a hypertable with compressed chunks (feature_not_supported) go
-- without it: the time bound alone keeps the search to the uncompressed chunks of the last week.
DO $$
BEGIN
    CREATE INDEX readings_received_brin ON readings USING brin (received_at) WITH (pages_per_range = 32);
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'readings_received_brin not created: %', SQLERRM;
END
$$;
