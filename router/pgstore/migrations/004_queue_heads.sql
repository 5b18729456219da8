-- routeops schema, version 4: each queue's head and oldest waiting item,
-- kept by triggers, so that a snapshot of the whole fleet is a few hash
-- joins rather than three index probes per queue.
--
-- queue_heads holds, per queue that has or had queued items: the head (the
-- first item the engine would claim: queued, not skipped, in routing
-- order) with the fields the monitor shows, whether its current revision
-- exists and its attributes, and the oldest enqueued_at among queued items.
--
-- It cannot drift: every statement that changes work_items, or deletes or
-- rewrites a revision that some queue's head points at, recomputes the
-- affected queues from the indexes, exactly, after locking their rows (so
-- that in READ COMMITTED the recomputation sees every transaction that
-- committed before the lock). The triggers are ENABLE ALWAYS, so they also
-- fire under session_replication_role = replica. TRUNCATE clears it.
-- TestQueueHeadsNeverDrift checks it against a direct computation after
-- random operations, raw SQL included.

CREATE TABLE queue_heads (
    org_id              text NOT NULL,
    queue_id            text NOT NULL,
    oldest_enqueued_at  timestamptz,
    head_id             bigint,
    head_enqueued_at    timestamptz,
    head_attempts       integer,
    head_last_error     text,
    head_last_attempt_at timestamptz,
    head_fault_cause    text,
    head_revision_id    bigint,
    head_revision_found boolean,
    head_attributes     jsonb,
    PRIMARY KEY (org_id, queue_id)
);
-- "which queue's head points at this revision": the revision triggers.
CREATE INDEX queue_heads_revision ON queue_heads (org_id, head_revision_id);

-- routeops_refresh_heads recomputes the given queues. Callers pass each
-- queue once; rows are locked in key order to stay free of deadlocks.
CREATE FUNCTION routeops_refresh_heads(orgs text[], queues text[]) RETURNS void
LANGUAGE plpgsql AS $$
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
        head_revision_found = (r.id IS NOT NULL), head_attributes = r.attributes
    FROM (SELECT DISTINCT o AS org_id, q AS queue_id FROM unnest(orgs, queues) AS u(o, q)) k
    LEFT JOIN LATERAL (
        SELECT w.enqueued_at AS oldest FROM work_items w
        WHERE w.org_id = k.org_id AND w.queue_id = k.queue_id AND w.state = 'queued'
        ORDER BY w.enqueued_at LIMIT 1) o ON true
    LEFT JOIN LATERAL (
        SELECT w.org_id, w.id, w.enqueued_at, w.attempts, w.last_error, w.last_attempt_at, w.fault_cause, w.current_revision_id
        FROM work_items w
        WHERE w.org_id = k.org_id AND w.queue_id = k.queue_id AND w.state = 'queued' AND NOT w.skipped
        ORDER BY w.priority DESC, w.enqueued_at, w.id LIMIT 1) x ON true
    LEFT JOIN work_item_revisions r ON r.org_id = x.org_id AND r.id = x.current_revision_id
    WHERE h.org_id = k.org_id AND h.queue_id = k.queue_id;
END $$;

-- work_items: every statement refreshes the queues whose queued items it
-- touched (a row queued before or after the statement).
CREATE FUNCTION routeops_heads_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    SELECT array_agg(org_id ORDER BY org_id, queue_id), array_agg(queue_id ORDER BY org_id, queue_id) INTO o, q
    FROM (SELECT DISTINCT org_id, queue_id FROM new_rows WHERE state = 'queued') k;
    IF o IS NOT NULL THEN PERFORM routeops_refresh_heads(o, q); END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION routeops_heads_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    SELECT array_agg(org_id ORDER BY org_id, queue_id), array_agg(queue_id ORDER BY org_id, queue_id) INTO o, q
    FROM (SELECT org_id, queue_id FROM old_rows WHERE state = 'queued'
          UNION
          SELECT org_id, queue_id FROM new_rows WHERE state = 'queued') k;
    IF o IS NOT NULL THEN PERFORM routeops_refresh_heads(o, q); END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION routeops_heads_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    SELECT array_agg(org_id ORDER BY org_id, queue_id), array_agg(queue_id ORDER BY org_id, queue_id) INTO o, q
    FROM (SELECT DISTINCT org_id, queue_id FROM old_rows WHERE state = 'queued') k;
    IF o IS NOT NULL THEN PERFORM routeops_refresh_heads(o, q); END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION routeops_heads_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM queue_heads;
    RETURN NULL;
END $$;

CREATE TRIGGER work_items_heads_insert AFTER INSERT ON work_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_heads_insert();
CREATE TRIGGER work_items_heads_update AFTER UPDATE ON work_items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_heads_update();
CREATE TRIGGER work_items_heads_delete AFTER DELETE ON work_items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_heads_delete();
CREATE TRIGGER work_items_heads_truncate AFTER TRUNCATE ON work_items
    FOR EACH STATEMENT EXECUTE FUNCTION routeops_heads_truncate();
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_heads_insert;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_heads_update;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_heads_delete;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_heads_truncate;

-- work_item_revisions: a revision that some head points at was deleted or
-- rewritten (what the incident's script and the drills do), or inserted
-- (a revision id a head already names can come back): refresh that queue.
CREATE FUNCTION routeops_heads_revision_old() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    SELECT array_agg(h.org_id ORDER BY h.org_id, h.queue_id), array_agg(h.queue_id ORDER BY h.org_id, h.queue_id) INTO o, q
    FROM (SELECT DISTINCT h.org_id, h.queue_id FROM queue_heads h
          JOIN old_rows r ON r.org_id = h.org_id AND r.id = h.head_revision_id) h;
    IF o IS NOT NULL THEN PERFORM routeops_refresh_heads(o, q); END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION routeops_heads_revision_new() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    SELECT array_agg(h.org_id ORDER BY h.org_id, h.queue_id), array_agg(h.queue_id ORDER BY h.org_id, h.queue_id) INTO o, q
    FROM (SELECT DISTINCT h.org_id, h.queue_id FROM queue_heads h
          JOIN new_rows r ON r.org_id = h.org_id AND r.id = h.head_revision_id) h;
    IF o IS NOT NULL THEN PERFORM routeops_refresh_heads(o, q); END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER revisions_heads_delete AFTER DELETE ON work_item_revisions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_heads_revision_old();
CREATE FUNCTION routeops_heads_revision_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    SELECT array_agg(h.org_id ORDER BY h.org_id, h.queue_id), array_agg(h.queue_id ORDER BY h.org_id, h.queue_id) INTO o, q
    FROM (SELECT DISTINCT h.org_id, h.queue_id FROM queue_heads h
          JOIN (SELECT org_id, id FROM old_rows UNION SELECT org_id, id FROM new_rows) r
            ON r.org_id = h.org_id AND r.id = h.head_revision_id) h;
    IF o IS NOT NULL THEN PERFORM routeops_refresh_heads(o, q); END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER revisions_heads_update AFTER UPDATE ON work_item_revisions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_heads_revision_update();
CREATE TRIGGER revisions_heads_insert AFTER INSERT ON work_item_revisions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_heads_revision_new();
ALTER TABLE work_item_revisions ENABLE ALWAYS TRIGGER revisions_heads_delete;
ALTER TABLE work_item_revisions ENABLE ALWAYS TRIGGER revisions_heads_update;
ALTER TABLE work_item_revisions ENABLE ALWAYS TRIGGER revisions_heads_insert;

-- Fill it for the queues that exist now.
SELECT routeops_refresh_heads(array_agg(org_id ORDER BY org_id, id), array_agg(id ORDER BY org_id, id)) FROM queues;
