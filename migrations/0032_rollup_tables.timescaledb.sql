-- TimescaleDB keeps readings_1m / readings_1h / readings_1d as continuous aggregates (migration 0004), refreshed
-- by their policies and real-time above the refreshed range. The plain PostgreSQL variant of this migration
-- turns its views into tables kept up to date by a trigger; nothing changes here.
SELECT 1;
