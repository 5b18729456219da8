-- routeops schema, version 6: counters that writers never wait on.
--
-- Until now every statement that changed a queue's items updated that
-- queue's rows in queue_counts and queue_heads, and held those row locks
-- until it committed. Every enqueue and every routing transaction on one
-- queue therefore waited, in turn, for the previous one's commit: writers
-- of a hot queue were serialised on fsync, and an enqueue's tail latency
-- was a routing transaction's commit.
--
-- Now writers only append:
--   - queue_count_deltas: the change in each (org, queue, state bucket)
--     count made by a statement. The true count is queue_counts plus the
--     deltas; readers add them up.
--   - queue_dirty: a marker saying a queue's head or oldest item may have
--     changed. The snapshot reads queue_heads for clean queues and probes
--     dirty ones directly, so it is exact either way.
-- routeops_maintain() folds the deltas into queue_counts and refreshes the
-- dirty queues' heads, each in one atomic step, so a reader in any one
-- snapshot sees a marker or the refreshed head, deltas or the folded
-- count, never neither. A marker written by a transaction still running
-- when maintenance runs is not visible to it and survives to the next
-- round. The engine runs it with its heartbeat; nothing is lost if nobody
-- does, only the snapshot does more work.

CREATE TABLE queue_count_deltas (
    org_id   text NOT NULL,
    queue_id text NOT NULL,
    bucket   text NOT NULL,
    n        bigint NOT NULL
);
CREATE INDEX queue_count_deltas_org ON queue_count_deltas (org_id, queue_id);

CREATE TABLE queue_dirty (
    org_id   text NOT NULL,
    queue_id text NOT NULL
);

CREATE OR REPLACE FUNCTION routeops_items_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, count(*)
    FROM new_rows GROUP BY 1, 2, 3;
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT org_id, queue_id FROM new_rows WHERE state = 'queued';
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_items_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_items_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, -count(*)
    FROM old_rows GROUP BY 1, 2, 3;
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT org_id, queue_id FROM old_rows WHERE state = 'queued';
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM queue_counts;
    DELETE FROM queue_count_deltas;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_heads_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM queue_heads;
    DELETE FROM queue_dirty;
    RETURN NULL;
END $$;

-- A revision was deleted, rewritten or (re)inserted: mark dirty every
-- queue with a queued item that points at it. This looks at the items, not
-- at queue_heads, so it cannot miss a head that maintenance is refreshing
-- at the same moment.
CREATE OR REPLACE FUNCTION routeops_heads_revision_old() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT w.org_id, w.queue_id FROM old_rows r
    JOIN work_items w ON w.org_id = r.org_id AND w.current_revision_id = r.id
    WHERE w.state = 'queued';
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_heads_revision_new() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT w.org_id, w.queue_id FROM new_rows r
    JOIN work_items w ON w.org_id = r.org_id AND w.current_revision_id = r.id
    WHERE w.state = 'queued';
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_heads_revision_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT w.org_id, w.queue_id
    FROM (SELECT org_id, id FROM old_rows UNION SELECT org_id, id FROM new_rows) r
    JOIN work_items w ON w.org_id = r.org_id AND w.current_revision_id = r.id
    WHERE w.state = 'queued';
    RETURN NULL;
END $$;

-- The notification trigger and the journal fill stay as they were.

-- routeops_maintain folds count deltas and refreshes dirty heads. Safe to
-- run from several processes at once: a delta or marker is taken by one
-- DELETE only.
CREATE FUNCTION routeops_maintain() RETURNS void LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    WITH d AS (DELETE FROM queue_count_deltas RETURNING org_id, queue_id, bucket, n),
    s AS (SELECT org_id, queue_id, bucket, sum(n) AS n FROM d GROUP BY 1, 2, 3 HAVING sum(n) <> 0)
    INSERT INTO queue_counts AS c (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, bucket, n FROM s ORDER BY 1, 2, 3
    ON CONFLICT (org_id, queue_id, bucket) DO UPDATE SET n = c.n + EXCLUDED.n;

    WITH d AS (DELETE FROM queue_dirty RETURNING org_id, queue_id)
    SELECT array_agg(org_id ORDER BY org_id, queue_id), array_agg(queue_id ORDER BY org_id, queue_id) INTO o, q
    FROM (SELECT DISTINCT org_id, queue_id FROM d) k;
    IF o IS NOT NULL THEN
        PERFORM routeops_refresh_heads(o, q);
    END IF;
END $$;

-- Start clean.
SELECT routeops_maintain();
