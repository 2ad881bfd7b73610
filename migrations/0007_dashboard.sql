-- Dashboard: server-side sessions and login attempts (rate limiting).

-- The cookie holds a random token; only its SHA-256 is stored, so a copy of this table opens no session.
CREATE TABLE dashboard_sessions (
    token_hash    bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    locale        text NOT NULL CHECK (locale IN ('zh-CN', 'en')),
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- Every login attempt, kept for the rate limit (failures per username and per client address) and for audit.
CREATE TABLE login_attempts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time       timestamptz NOT NULL,
    username   text NOT NULL,
    client     text NOT NULL,
    succeeded  boolean NOT NULL
);
CREATE INDEX login_attempts_username ON login_attempts (username, time DESC);
CREATE INDEX login_attempts_client ON login_attempts (client, time DESC);

-- The alert queue filters by state and severity and sorts by opening time.
CREATE INDEX alerts_opened ON alerts (opened_at DESC);
CREATE INDEX alerts_device ON alerts (device_id, opened_at DESC);
