-- routeops schema, version 8: wake-ups that do not serialise commits.
--
-- In PostgreSQL (up to 16 at least) a transaction that has called NOTIFY
-- takes one database-wide lock when it commits and holds it through its
-- commit's WAL flush, so every notifying commit waits for the previous
-- one's fsync. With a NOTIFY in every enqueue, enqueues queued up behind
-- each other whenever the disk slowed down: at 200 enqueues a second the
-- bench saw 20 sessions waiting on that lock and enqueue latencies of
-- 100-400 ms.
--
-- routeops's own writers now notify after their data has committed, in a
-- transaction of its own with synchronous_commit off (a lost wake-up costs
-- one poll interval, never an item), and their sessions say so with
-- routeops.notify = 'after_commit' (set at connect). The trigger still
-- wakes the engines for every other writer, such as the platform writing
-- SQL directly.
CREATE OR REPLACE FUNCTION routeops_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('routeops.notify', true), '') = 'after_commit' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify('routeops_work', org_id) FROM (SELECT DISTINCT org_id FROM new_rows WHERE state = 'queued') o;
    RETURN NULL;
END $$;
