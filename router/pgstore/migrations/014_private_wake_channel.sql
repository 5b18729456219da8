-- routeops schema, version 14: a wake-up channel only routeops knows.
--
-- Any role that can connect may NOTIFY on any channel, and PostgreSQL has
-- no privilege on channels. On the well-known channel routeops_work a
-- role with no other rights kept an engine busy receiving a flood of
-- notifications (a fifth to half of a core, whatever the engine then did
-- with them). The channel's name now carries a random suffix, chosen once
-- per database, kept in routeops_settings, which only the owner and the
-- routeops roles may read. The engines listen on it and routeops's own
-- writers notify on it. The insert trigger, which wakes the engines for
-- every other writer (the platform inserting with plain SQL), reads the
-- name as the owner (SECURITY DEFINER), so such a writer needs no grant on
-- routeops_settings and never learns the name. A role that can read the
-- name (the viewer and operator roles, the owner) can still notify on it;
-- the engines' wake gate bounds what that costs.
ALTER TABLE routeops_settings
    ADD COLUMN wake_channel text NOT NULL
        DEFAULT 'routeops_work_' || md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text)
        CHECK (wake_channel ~ '^routeops_work_[0-9a-f]{32}$');

CREATE OR REPLACE FUNCTION routeops_notify_insert() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    channel text;
BEGIN
    IF coalesce(current_setting('routeops.notify', true), '') = 'after_commit' THEN
        RETURN NULL;
    END IF;
    SELECT wake_channel INTO channel FROM routeops_settings;
    PERFORM pg_notify(channel, org_id) FROM (SELECT DISTINCT org_id FROM new_rows WHERE state = 'queued') o;
    RETURN NULL;
END $$;
