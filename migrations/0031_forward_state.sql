-- Forwarding state the dashboard shows (issue 19 part 4: backlog and lag "on the dashboard and in metrics").
-- The forward service is its own process, so what only it knows (connected or not, the last error, frames
-- sent and resent, refusals) is written here as it happens; the dashboard reads it with the queue's backlog.
-- reported_at is the service's heartbeat (every few seconds while it runs): a state older than a few
-- heartbeats is shown as "not reporting", never as a connection that may have died with the service.
ALTER TABLE forward_progress
    ADD COLUMN connected       boolean NOT NULL DEFAULT false,
    ADD COLUMN state_since     timestamptz,
    ADD COLUMN reported_at     timestamptz,
    ADD COLUMN last_error      text,
    ADD COLUMN last_error_at   timestamptz,
    ADD COLUMN sent_frames     bigint NOT NULL DEFAULT 0,
    ADD COLUMN resent_frames   bigint NOT NULL DEFAULT 0,
    ADD COLUMN refusals        bigint NOT NULL DEFAULT 0;
