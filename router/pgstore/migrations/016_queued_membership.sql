-- routeops schema, version 16: an assignment that touches no index.
--
-- An item's state sat in the predicates of three partial indexes on
-- work_items (the head of each queue, its oldest waiting item, the faulted
-- items), so no change of state could be a HOT update: each assignment
-- wrote a new row version on another page (with a lock record for the
-- move) and a new entry in every full index (the primary key, the current
-- revision). Queued membership now lives in a narrow table of its own,
-- queued_items, which the statement triggers that keep the counters keep
-- too, in the same statement: an item enters it when it becomes queued
-- and leaves it when it stops being queued (a delete touches no index).
-- The assignment then changes no indexed column of work_items, and is a
-- HOT update whenever the row's page has room, which fillfactor keeps
-- for rows written from now on.
--
-- queued_items holds exactly the queued items (skipped ones flagged), with
-- the columns of the routing order: the claim reads it in index order and
-- fetches each item by its primary key. TestQueueHeadsNeverDrift checks it
-- against the items after random operations, raw SQL included.

CREATE TABLE queued_items (
    org_id      text NOT NULL,
    queue_id    text NOT NULL,
    priority    smallint NOT NULL,
    enqueued_at timestamptz NOT NULL,
    id          bigint NOT NULL,
    skipped     boolean NOT NULL
);
-- The head of each queue, in routing order (what the claim reads).
CREATE INDEX queued_items_head ON queued_items (org_id, queue_id, priority DESC, enqueued_at, id) WHERE NOT skipped;
-- The oldest waiting item of each queue (skipped ones included); also how
-- the triggers find an item's row when it leaves.
CREATE INDEX queued_items_oldest ON queued_items (org_id, queue_id, enqueued_at, id);

INSERT INTO queued_items (org_id, queue_id, priority, enqueued_at, id, skipped)
SELECT org_id, queue_id, priority, enqueued_at, id, skipped FROM work_items WHERE state = 'queued';

DROP INDEX work_items_head;
DROP INDEX work_items_oldest;
-- Quarantined and skipped items are found per org through the primary key;
-- an index with state in its predicate would make every assignment non-HOT.
DROP INDEX work_items_faulted;

-- The attribute index of version 13 held the waiting items only (a
-- predicate on state), so an assignment, which moves an item out of it,
-- could never be a HOT update. It holds every item now: an assignment
-- changes neither the journal copy nor a column of any index's predicate.
-- Finished items keep their entries until they are deleted.
DROP INDEX work_items_waiting_attrs;
CREATE INDEX work_items_attrs ON work_items USING gin (journal_attributes jsonb_path_ops);

-- Room on each page for the new version of a row, so that an assignment
-- stays on its page. Rows already written keep their pages as they are.
-- A drain of a bulk-loaded backlog is the hardest case: an org's items sit
-- together, and one routing transaction assigns half of a page's rows at
-- once. On 100 orgs x 2,000 items, 98% of assignments were HOT at 50,
-- 81% at 60, 55% at 75 (WAL per assignment 1,003 / 1,101 / 1,217 bytes,
-- against 1,232 before). Items that arrive over time share pages with
-- other orgs' and need far less.
ALTER TABLE work_items SET (fillfactor = 50);

-- Membership changes. A row that was queued leaves (and comes back if it
-- is still queued, so that a new priority, queue or skip flag is picked
-- up); a row that is queued after the statement enters. The joins with
-- queued_items are index probes whatever the size of the statement: the
-- functions forbid hash and merge joins, because the plan of a trigger's
-- statement is made once per session, for the first statement's size.
CREATE OR REPLACE FUNCTION routeops_items_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, count(*)
    FROM new_rows GROUP BY 1, 2, 3;
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT org_id, queue_id FROM new_rows WHERE state = 'queued';
    INSERT INTO work_item_orgs (id, org_id) SELECT id, org_id FROM new_rows;
    INSERT INTO queued_items (org_id, queue_id, priority, enqueued_at, id, skipped)
    SELECT org_id, queue_id, priority, enqueued_at, id, skipped FROM new_rows WHERE state = 'queued';
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_items_update() RETURNS trigger LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    INSERT INTO queue_count_deltas (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, bucket, sum(n) FROM (
        SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END AS bucket, count(*) AS n
        FROM new_rows GROUP BY 1, 2, 3
        UNION ALL
        SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, -count(*)
        FROM old_rows GROUP BY 1, 2, 3
    ) d
    GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT org_id, queue_id FROM old_rows WHERE state = 'queued'
    UNION
    SELECT org_id, queue_id FROM new_rows WHERE state = 'queued';
    DELETE FROM queued_items q USING old_rows o
    WHERE o.state = 'queued'
      AND q.org_id = o.org_id AND q.queue_id = o.queue_id AND q.enqueued_at = o.enqueued_at AND q.id = o.id;
    INSERT INTO queued_items (org_id, queue_id, priority, enqueued_at, id, skipped)
    SELECT org_id, queue_id, priority, enqueued_at, id, skipped FROM new_rows WHERE state = 'queued';
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_items_delete() RETURNS trigger LANGUAGE plpgsql
SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    INSERT INTO queue_count_deltas (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, -count(*)
    FROM old_rows GROUP BY 1, 2, 3;
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT org_id, queue_id FROM old_rows WHERE state = 'queued';
    DELETE FROM work_item_orgs o USING old_rows r WHERE o.id = r.id AND o.org_id = r.org_id;
    DELETE FROM queued_items q USING old_rows o
    WHERE o.state = 'queued'
      AND q.org_id = o.org_id AND q.queue_id = o.queue_id AND q.enqueued_at = o.enqueued_at AND q.id = o.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM queue_counts;
    DELETE FROM queue_count_deltas;
    DELETE FROM work_item_orgs;
    DELETE FROM queued_items;
    RETURN NULL;
END $$;

-- The heads, from the membership. As in version 11, the head keeps its
-- attributes' size, and its attributes only when within the limit.
CREATE OR REPLACE FUNCTION routeops_refresh_heads(orgs text[], queues text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lim integer := routeops_attributes_limit();
BEGIN
    -- Make sure a row exists for each queue, then lock them all in key
    -- order. Everything after this sees what committed before the locks.
    INSERT INTO queue_heads (org_id, queue_id)
    SELECT DISTINCT o, q FROM unnest(orgs, queues) AS u(o, q)
    ORDER BY 1, 2
    ON CONFLICT (org_id, queue_id) DO NOTHING;
    PERFORM 1 FROM queue_heads h
    WHERE (h.org_id, h.queue_id) IN (SELECT * FROM unnest(orgs, queues))
    ORDER BY h.org_id, h.queue_id
    FOR UPDATE;

    UPDATE queue_heads h SET
        oldest_enqueued_at = o.oldest,
        head_id = x.id, head_enqueued_at = x.enqueued_at, head_attempts = x.attempts,
        head_last_error = x.last_error, head_last_attempt_at = x.last_attempt_at,
        head_fault_cause = x.fault_cause, head_revision_id = x.current_revision_id,
        head_revision_found = (r.id IS NOT NULL),
        head_attributes_bytes = r.bytes,
        head_attributes = CASE WHEN r.bytes > lim THEN NULL ELSE r.attributes END
    FROM (SELECT DISTINCT o AS org_id, q AS queue_id FROM unnest(orgs, queues) AS u(o, q)) k
    LEFT JOIN LATERAL (
        SELECT c.enqueued_at AS oldest FROM queued_items c
        WHERE c.org_id = k.org_id AND c.queue_id = k.queue_id
        ORDER BY c.enqueued_at LIMIT 1) o ON true
    LEFT JOIN LATERAL (
        SELECT w.org_id, w.id, w.enqueued_at, w.attempts, w.last_error, w.last_attempt_at, w.fault_cause, w.current_revision_id
        FROM queued_items c JOIN work_items w ON w.org_id = c.org_id AND w.id = c.id
        WHERE c.org_id = k.org_id AND c.queue_id = k.queue_id AND NOT c.skipped
        ORDER BY c.priority DESC, c.enqueued_at, c.id LIMIT 1) x ON true
    LEFT JOIN LATERAL (
        SELECT r.id, r.attributes, routeops_attributes_bytes(r.attributes, r.attributes_bytes) AS bytes
        FROM work_item_revisions r
        WHERE r.org_id = x.org_id AND r.id = x.current_revision_id) r ON true
    WHERE h.org_id = k.org_id AND h.queue_id = k.queue_id;
END $$;
