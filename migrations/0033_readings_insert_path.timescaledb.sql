-- TimescaleDB: each chunk's B-tree on time becomes a BRIN index, as plain PostgreSQL did in 0008 (issue 20).
--
-- create_hypertable gives every chunk a B-tree on time (`readings_time_idx`). Every inserted row paid for a
-- second B-tree beside the unique key: the write path wrote 120,773 instead of 189,753 rows per backend
-- CPU-second with it (`benchmarks/storage.py --time-btree`, docs/scaling.md), and that was the largest
-- difference between the flavours' ingest. Readings arrive in time order, so a BRIN index answers "the last
-- minute/hour across devices" within a chunk almost as well, at a few pages; chunk exclusion already keeps
-- such queries to the chunks of their time range, and per-series queries use the unique key.
-- Releases that refuse a new index on a hypertable with compressed chunks keep the B-tree.

DO $$
BEGIN
    CREATE INDEX readings_time_brin ON readings USING brin (time) WITH (pages_per_range = 32);
    DROP INDEX IF EXISTS readings_time_idx;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'readings keeps its B-tree on time: %', SQLERRM;
END
$$;
