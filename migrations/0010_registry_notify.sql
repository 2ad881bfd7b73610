-- Registry changes reach the running services: every statement that changes a registry table sends
-- NOTIFY envmon_registry with the table's name (envmon/registry/watch.py listens). Statement-level
-- triggers, so a bulk load sends one notification per statement, never one per row; PostgreSQL
-- folds equal notifications of one transaction and delivers them at its commit, so a whole
-- `envmon registry load` arrives as at most one notification per table.

CREATE FUNCTION envmon_registry_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('envmon_registry', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER districts_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON districts
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();
CREATE TRIGGER sites_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sites
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();
CREATE TRIGGER devices_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON devices
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();
CREATE TRIGGER limits_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON limits
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();
CREATE TRIGGER recipients_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON recipients
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();
CREATE TRIGGER escalation_chains_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON escalation_chains
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();
CREATE TRIGGER escalation_steps_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON escalation_steps
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();
CREATE TRIGGER maintenance_windows_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON maintenance_windows
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();
CREATE TRIGGER silences_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON silences
    FOR EACH STATEMENT EXECUTE FUNCTION envmon_registry_changed();

-- Limits are numbers a person compares readings with: NaN reads as "no limit" and an infinite one
-- never trips. The loaders refuse them (envmon/registry/bounds.py); the table refuses them too, for
-- every other writer. NOT VALID: rows stored before this migration are not rechecked (a NaN there
-- would stop the migration); new and updated rows are.
ALTER TABLE limits ADD CONSTRAINT limits_values_finite CHECK (
    (lower_value IS NULL OR (lower_value <> 'NaN' AND abs(lower_value) < 'Infinity'))
    AND (upper_value IS NULL OR (upper_value <> 'NaN' AND abs(upper_value) < 'Infinity'))
    AND (level2_lower_value IS NULL OR (level2_lower_value <> 'NaN' AND abs(level2_lower_value) < 'Infinity'))
    AND (level2_upper_value IS NULL OR (level2_upper_value <> 'NaN' AND abs(level2_upper_value) < 'Infinity'))
    AND (warning_ratio IS NULL OR warning_ratio <> 'NaN')
    AND (severe_multiple IS NULL OR (severe_multiple <> 'NaN' AND severe_multiple < 'Infinity'))
) NOT VALID;
