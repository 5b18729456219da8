-- routeops schema, version 5: less work per assignment.
--
-- An assignment cannot be a HOT update (state is in partial-index
-- predicates), so every index on work_items takes a new entry for it.
-- work_items_assigned served no hot query (verify and completions use
-- the primary key or a scan), so it goes.
DROP INDEX work_items_assigned;

-- One statement-level trigger per event keeps both queue_counts and
-- queue_heads, reading the transition tables once, instead of two
-- triggers each starting its own plpgsql frame.
DROP TRIGGER work_items_count_insert ON work_items;
DROP TRIGGER work_items_count_update ON work_items;
DROP TRIGGER work_items_count_delete ON work_items;
DROP TRIGGER work_items_heads_insert ON work_items;
DROP TRIGGER work_items_heads_update ON work_items;
DROP TRIGGER work_items_heads_delete ON work_items;

CREATE FUNCTION routeops_items_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    INSERT INTO queue_counts AS c (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, count(*)
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (org_id, queue_id, bucket) DO UPDATE SET n = c.n + EXCLUDED.n;
    SELECT array_agg(org_id ORDER BY org_id, queue_id), array_agg(queue_id ORDER BY org_id, queue_id) INTO o, q
    FROM (SELECT DISTINCT org_id, queue_id FROM new_rows WHERE state = 'queued') k;
    IF o IS NOT NULL THEN PERFORM routeops_refresh_heads(o, q); END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION routeops_items_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    INSERT INTO queue_counts AS c (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, bucket, sum(n) FROM (
        SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END AS bucket, count(*) AS n
        FROM new_rows GROUP BY 1, 2, 3
        UNION ALL
        SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, -count(*)
        FROM old_rows GROUP BY 1, 2, 3
    ) d
    GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (org_id, queue_id, bucket) DO UPDATE SET n = c.n + EXCLUDED.n;
    SELECT array_agg(org_id ORDER BY org_id, queue_id), array_agg(queue_id ORDER BY org_id, queue_id) INTO o, q
    FROM (SELECT org_id, queue_id FROM old_rows WHERE state = 'queued'
          UNION
          SELECT org_id, queue_id FROM new_rows WHERE state = 'queued') k;
    IF o IS NOT NULL THEN PERFORM routeops_refresh_heads(o, q); END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION routeops_items_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE o text[]; q text[];
BEGIN
    INSERT INTO queue_counts AS c (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, -count(*)
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (org_id, queue_id, bucket) DO UPDATE SET n = c.n + EXCLUDED.n;
    SELECT array_agg(org_id ORDER BY org_id, queue_id), array_agg(queue_id ORDER BY org_id, queue_id) INTO o, q
    FROM (SELECT DISTINCT org_id, queue_id FROM old_rows WHERE state = 'queued') k;
    IF o IS NOT NULL THEN PERFORM routeops_refresh_heads(o, q); END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER work_items_keep_insert AFTER INSERT ON work_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_items_insert();
CREATE TRIGGER work_items_keep_update AFTER UPDATE ON work_items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_items_update();
CREATE TRIGGER work_items_keep_delete AFTER DELETE ON work_items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_items_delete();
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_keep_insert;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_keep_update;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_keep_delete;

DROP FUNCTION routeops_count_insert();
DROP FUNCTION routeops_count_update();
DROP FUNCTION routeops_count_delete();
DROP FUNCTION routeops_heads_insert();
DROP FUNCTION routeops_heads_update();
DROP FUNCTION routeops_heads_delete();
