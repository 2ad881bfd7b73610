-- The SMS sender commits request_started_at just before it asks the provider to send, and clears it when
-- the answer is recorded. A row a crash left in 'sending' with it set may have gone out: on restart it is
-- counted as a possible landing once, and unresolved_since keeps the earliest such start, so the sender
-- asks the provider whether it landed before sending again. A row without it was only claimed, never
-- sent, and goes out again freely (a missed SMS is worse than a second copy; a third is never sent).
ALTER TABLE notifications
    ADD COLUMN request_started_at timestamptz,
    ADD COLUMN unresolved_since timestamptz;
