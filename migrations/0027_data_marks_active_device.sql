-- Review marks are read by device wherever data are shown after review: the charts look for the active
-- marks of one device and pollutant over a range (dashboard/series.py), the plant page and device health
-- for those covering the newest readings. data_marks had an index on (state, proposed_at) only, for the
-- review page's list. A partial index: only active marks change what the data mean.
CREATE INDEX data_marks_active_device ON data_marks (device_id, start_at) WHERE state = 'active';
