-- Who ended a limit on the admin page (issue 18 leftover). A registry load keeps such a limit ended until the
-- file changes that limit's values (envmon/registry/store.py, ENDED_ON_PAGE); NULL for rows the file ends itself.
ALTER TABLE limits ADD COLUMN ended_by text;
