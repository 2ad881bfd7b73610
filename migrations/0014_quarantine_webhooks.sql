-- Twilio webhook posts that cannot be stored as text (a NUL character) are quarantined beside the
-- devices' bad messages, with their raw form as bytes (alerts/webhooks.py).
ALTER TABLE quarantine DROP CONSTRAINT quarantine_transport_check;
ALTER TABLE quarantine ADD CONSTRAINT quarantine_transport_check CHECK (transport IN ('mqtt', 'hj212', 'twilio'));
