"""Notifications: who is told (routing, chains, dedup, escalation), the SMS text, the outbox and its sender, Twilio."""
