-- routeops schema, version 7: one index entry fewer per assignment.
--
-- An assignment cannot be a HOT update (state is in partial-index
-- predicates), so every index on work_items takes a new entry each time an
-- item changes state. work_items_id (lookup by id alone, for operators who
-- type an id without its org) was one of three. An item's id and org never
-- change, so that lookup now lives in a narrow table written once, when
-- the item is inserted, and never again: routing does not touch it.
--
-- The statement-level insert and delete triggers that keep the counters
-- keep it too, from the same transition tables; TRUNCATE clears it.
-- Nothing updates an item's id or org (no routeops statement does, and
-- the primary key (org_id, id) makes moving an item between orgs a
-- delete and an insert).

CREATE TABLE work_item_orgs (
    id     bigint PRIMARY KEY,
    org_id text NOT NULL
);

INSERT INTO work_item_orgs (id, org_id) SELECT id, org_id FROM work_items;

DROP INDEX work_items_id;

CREATE OR REPLACE FUNCTION routeops_items_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, count(*)
    FROM new_rows GROUP BY 1, 2, 3;
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT org_id, queue_id FROM new_rows WHERE state = 'queued';
    INSERT INTO work_item_orgs (id, org_id) SELECT id, org_id FROM new_rows;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_items_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_count_deltas (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, -count(*)
    FROM old_rows GROUP BY 1, 2, 3;
    INSERT INTO queue_dirty (org_id, queue_id)
    SELECT DISTINCT org_id, queue_id FROM old_rows WHERE state = 'queued';
    DELETE FROM work_item_orgs o USING old_rows r WHERE o.id = r.id AND o.org_id = r.org_id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION routeops_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM queue_counts;
    DELETE FROM queue_count_deltas;
    DELETE FROM work_item_orgs;
    RETURN NULL;
END $$;
