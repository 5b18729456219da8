-- An engine that cannot LISTEN (transaction pooling without a session
-- connection for wake-ups) finds new work only by polling; its heartbeat
-- says so, and status shows it.
ALTER TABLE engine_heartbeats ADD COLUMN polling boolean NOT NULL DEFAULT false;
