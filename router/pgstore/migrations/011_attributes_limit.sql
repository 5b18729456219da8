-- routeops schema, version 11: attribute documents have a size limit that
-- every writer meets.
--
-- jsonb takes documents of hundreds of megabytes. One tenant's 10 MB
-- blobs made every list, claim and snapshot that fetched them cost
-- hundreds of megabytes and seconds, for every tenant. Now:
--
--   - routeops_settings.attributes_max_bytes (64 KiB unless `routeops
--     migrate --attributes-limit` says otherwise) bounds a revision's
--     attributes, measured as the bytes of their text form;
--   - triggers (ENABLE ALWAYS, so also under session_replication_role =
--     replica) measure every revision written, record the size in
--     work_item_revisions.attributes_bytes, and refuse a statement that
--     writes a document over the limit with SQLSTATE RO413;
--   - readers compare sizes in SQL and never fetch a document over the
--     limit (routeops_attributes_bytes measures rows written before this
--     version); the engine faults such an item as oversized_attributes;
--   - queue_heads keeps the head's size, and its attributes only when they
--     are within the limit.

CREATE TABLE routeops_settings (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    attributes_max_bytes integer NOT NULL DEFAULT 65536
                         CHECK (attributes_max_bytes BETWEEN 16384 AND 67108864)
);
INSERT INTO routeops_settings DEFAULT VALUES;

CREATE FUNCTION routeops_attributes_limit() RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT attributes_max_bytes FROM routeops_settings
$$;

-- The size of a document as text: known is the size recorded when it was
-- written (attributes_bytes); rows written before this version are
-- measured.
CREATE FUNCTION routeops_attributes_bytes(a jsonb, known integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT coalesce(known, octet_length(a::text))
$$;

ALTER TABLE work_item_revisions ADD COLUMN attributes_bytes integer;

-- Each row is measured as it is written; each statement's rows are then
-- checked against the limit at once (one lookup of the setting per
-- statement rather than per row: a bulk load writes millions of rows).
CREATE FUNCTION routeops_revision_size() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.attributes_bytes := octet_length(NEW.attributes::text);
    RETURN NEW;
END $$;
CREATE TRIGGER work_item_revisions_size BEFORE INSERT OR UPDATE OF attributes, attributes_bytes ON work_item_revisions
    FOR EACH ROW EXECUTE FUNCTION routeops_revision_size();

CREATE FUNCTION routeops_revision_size_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lim  integer := routeops_attributes_limit();
    size integer;
BEGIN
    SELECT max(attributes_bytes) INTO size FROM new_rows;
    IF size > lim THEN
        RAISE EXCEPTION 'attributes too large: % bytes, the limit is % (routeops_settings.attributes_max_bytes)',
            size, lim
            USING ERRCODE = 'RO413';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER work_item_revisions_size_insert AFTER INSERT ON work_item_revisions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_revision_size_check();
CREATE TRIGGER work_item_revisions_size_update AFTER UPDATE ON work_item_revisions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_revision_size_check();
ALTER TABLE work_item_revisions ENABLE ALWAYS TRIGGER work_item_revisions_size;
ALTER TABLE work_item_revisions ENABLE ALWAYS TRIGGER work_item_revisions_size_insert;
ALTER TABLE work_item_revisions ENABLE ALWAYS TRIGGER work_item_revisions_size_update;

-- The head's size, and its attributes only when within the limit.
ALTER TABLE queue_heads ADD COLUMN head_attributes_bytes integer;

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
        SELECT w.enqueued_at AS oldest FROM work_items w
        WHERE w.org_id = k.org_id AND w.queue_id = k.queue_id AND w.state = 'queued'
        ORDER BY w.enqueued_at LIMIT 1) o ON true
    LEFT JOIN LATERAL (
        SELECT w.org_id, w.id, w.enqueued_at, w.attempts, w.last_error, w.last_attempt_at, w.fault_cause, w.current_revision_id
        FROM work_items w
        WHERE w.org_id = k.org_id AND w.queue_id = k.queue_id AND w.state = 'queued' AND NOT w.skipped
        ORDER BY w.priority DESC, w.enqueued_at, w.id LIMIT 1) x ON true
    LEFT JOIN LATERAL (
        SELECT r.id, r.attributes, routeops_attributes_bytes(r.attributes, r.attributes_bytes) AS bytes
        FROM work_item_revisions r
        WHERE r.org_id = x.org_id AND r.id = x.current_revision_id) r ON true
    WHERE h.org_id = k.org_id AND h.queue_id = k.queue_id;
END $$;

-- Heads stored before this version: forget oversized attributes now.
UPDATE queue_heads h SET head_attributes_bytes = routeops_attributes_bytes(h.head_attributes, NULL)
WHERE h.head_attributes IS NOT NULL;
UPDATE queue_heads SET head_attributes = NULL WHERE head_attributes_bytes > routeops_attributes_limit();
