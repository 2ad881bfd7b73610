-- Inspection and compliance reports: revoked SMS links, why each version was made, and the period
-- a daily or monthly compliance report covers.

-- A signed link carries its own id; a row with that id refuses it. A row without a link id refuses
-- every link of the alert issued before revoked_at (e.g. an SMS went to the wrong phone).
CREATE TABLE report_link_revocations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id),
    link_id     text UNIQUE,
    revoked_at  timestamptz NOT NULL,
    revoked_by  text NOT NULL,
    reason      text NOT NULL DEFAULT ''
);
CREATE INDEX report_link_revocations_alert ON report_link_revocations (alert_id);

ALTER TABLE reports
    ADD COLUMN reason text NOT NULL DEFAULT 'manual',
    ADD COLUMN period_start date,
    ADD COLUMN period_end date,
    ADD CHECK ((kind = 'inspection') = (alert_id IS NOT NULL)),
    ADD CHECK (kind = 'inspection' OR (period_start IS NOT NULL AND period_end > period_start));

-- Versions of one compliance report (site, kind, period, locale), like UNIQUE (alert_id, version, locale).
CREATE UNIQUE INDEX reports_compliance_version
    ON reports (site_id, kind, period_start, locale, version) WHERE alert_id IS NULL;
