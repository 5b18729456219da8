-- routeops schema, version 17: cleanup that touches each revision fewer
-- times.
--
-- A cleanup batch locked its window of revisions FOR UPDATE, locked their
-- items FOR SHARE (a lock record per item, and a wait for routing, whose
-- assignment updates that row), then deleted under a new snapshot with the
-- reference check in the DELETE, and the revisions' delete trigger looked
-- once more for queues whose head points at each deleted revision.
--
-- Now one statement locks the window (FOR UPDATE SKIP LOCKED) and deletes
-- the locked revisions that are unreferenced and not their item's newest.
-- The reference check must see every repoint that committed before the
-- revisions were locked: routeops_revisions_referenced is VOLATILE, so its
-- query reads with a snapshot of its own, and the statement calls it once,
-- on arrays built from the locked rows, so it runs after every lock is
-- taken. A repoint takes a KEY SHARE lock on its target revision (the
-- foreign key's check does, and routeops's writers do), so from the lock
-- on, no repoint to it can commit until cleanup ends: either it committed
-- before and the check sees it, or it waits and then finds the revision
-- gone. The items are not locked at all. A revision cleanup deletes is,
-- by that check, nobody's current revision, so no queue's head points at
-- it: the delete trigger skips its probe for statements that say so
-- (routeops.cleanup = 'on').
CREATE FUNCTION routeops_revisions_referenced(orgs text[], ids bigint[])
RETURNS TABLE (org_id text, id bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- One probe of work_items_current_revision per revision (a join
    -- would be planned without knowing the arrays' size).
    RETURN QUERY
    SELECT u.o, u.r FROM unnest(orgs, ids) AS u(o, r)
    CROSS JOIN LATERAL (SELECT 1 FROM work_items w
                        WHERE w.org_id = u.o AND w.current_revision_id = u.r LIMIT 1) x;
END $$;

CREATE OR REPLACE FUNCTION routeops_heads_revision_old() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('routeops.cleanup', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT w.org_id, w.queue_id FROM old_rows r
    JOIN work_items w ON w.org_id = r.org_id AND w.current_revision_id = r.id
    WHERE w.state = 'queued';
    RETURN NULL;
END $$;
