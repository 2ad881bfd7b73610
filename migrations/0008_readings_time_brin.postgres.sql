-- Plain PostgreSQL: the time index of `readings` becomes a BRIN index. Readings arrive in time order,
-- so a BRIN index answers "the last minute/hour/day across devices" (health, dashboards, retention
-- deletes) almost as well as a B-tree, at a few pages instead of a B-tree entry per row: every
-- insert stops paying for a second B-tree. Per-device queries use the unique key
-- (device_id, pollutant, basis, time).
DROP INDEX readings_time;
CREATE INDEX readings_time_brin ON readings USING brin (time) WITH (pages_per_range = 32);
