-- routeops schema, version 12: a journal the writer cannot forge, and no
-- dangling revision reference even with the foreign key off.
--
-- 1. events: the database records who wrote each event and when, whatever
--    the writer claims. db_user is the login (session_user), recorded_at
--    the server's clock; actor, origin, os_user and at keep the writer's
--    claim. A trigger sets both on every insert (ENABLE ALWAYS, so also
--    under session_replication_role = replica).
--
-- 2. The journal copy on the item (journal_revision_id,
--    journal_attributes) is written only by triggers, which copy it from
--    the revision row and set journal_verified. A writer's own values are
--    kept only when the revision is not there yet (an item inserted before
--    its revision), unverified, until a deferred trigger can copy the
--    revision at commit. Anyone else changing the copy is refused; the
--    owner of the table may clear it. Repair uses an unverified copy only
--    when the operator allows fallbacks.
--
-- 3. Pointing an item at another revision takes a KEY SHARE lock on that
--    revision, as the foreign key check does, and is refused when the
--    revision does not exist. So a cleanup that holds the revision
--    (FOR UPDATE) makes the repoint wait, then fail; and a revision being
--    repointed to is skipped by cleanup. This holds with the foreign key
--    dropped, and under session_replication_role = replica.

-- 1. events
ALTER TABLE events ADD COLUMN db_user text, ADD COLUMN recorded_at timestamptz;

CREATE FUNCTION routeops_events_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.db_user := session_user;
    NEW.recorded_at := clock_timestamp();
    RETURN NEW;
END $$;
CREATE TRIGGER events_stamp BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION routeops_events_stamp();
ALTER TABLE events ENABLE ALWAYS TRIGGER events_stamp;

-- 2. and 3. the journal copy and repoints
DROP TRIGGER work_items_fill_journal ON work_items;
DROP FUNCTION routeops_fill_journal();

-- Every copy written before this version is checked against its revision
-- now: one that matches it is as good as a copy the trigger made; the
-- rest (the revision is gone, or differs) cannot be proven. Adding the
-- column with a default rewrites nothing; only the rows that fail are
-- written.
ALTER TABLE work_items ADD COLUMN journal_verified boolean NOT NULL DEFAULT true;
UPDATE work_items w SET journal_verified = false
WHERE w.journal_attributes IS NULL
   OR NOT EXISTS (SELECT 1 FROM work_item_revisions r
                  WHERE r.org_id = w.org_id AND r.id = w.journal_revision_id
                    AND r.attributes = w.journal_attributes);
ALTER TABLE work_items ALTER COLUMN journal_verified SET DEFAULT false;
-- The copy's size, as attributes_bytes is the revision's (migration 011),
-- so that readers need not render a large copy to measure it. NULL for
-- copies written before this version: readers measure those.
ALTER TABLE work_items ADD COLUMN journal_bytes integer;

-- The denormalized priority of attributes: 0 unless they are valid. No
-- valid document is longer than 16384 bytes as text (the longest: a
-- 64-character team, a 32-character tier and 32 skills of 64 characters,
-- each character escaped as \u00XX, is under 14 kB), and the checks read
-- a document several times, which for a legacy 10 MB one takes seconds:
-- a longer one is not examined.
CREATE FUNCTION routeops_priority_of(attrs jsonb, size integer) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN size IS NULL OR size > 16384 THEN 0::smallint
            WHEN routeops_attributes_valid(attrs) THEN (attrs ->> 'priority')::smallint
            ELSE 0::smallint END
$$;

-- Both trigger functions copy the revision the same way: the journal
-- takes its id, attributes and size, the denormalized priority its
-- priority.
CREATE FUNCTION routeops_journal_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    attrs jsonb;
    size  integer;
BEGIN
    SELECT r.attributes, routeops_attributes_bytes(r.attributes, r.attributes_bytes) INTO attrs, size
    FROM work_item_revisions r
    WHERE r.org_id = NEW.org_id AND r.id = NEW.current_revision_id;
    IF FOUND THEN
        NEW.journal_revision_id := NEW.current_revision_id;
        NEW.journal_attributes := attrs;
        NEW.journal_bytes := size;
        NEW.journal_verified := true;
        IF NEW.priority = 0 THEN
            -- Not given by the writer (routeops's bulk loads compute it).
            NEW.priority := routeops_priority_of(attrs, size);
        END IF;
        RETURN NEW;
    END IF;
    -- The revision is not there (yet): keep what the writer sent, as an
    -- unverified copy, within the size limit.
    NEW.journal_verified := false;
    NEW.journal_bytes := octet_length(NEW.journal_attributes::text);
    IF NEW.journal_bytes > routeops_attributes_limit() THEN
        RAISE EXCEPTION 'journal copy too large: % bytes, the limit is % (routeops_settings.attributes_max_bytes)',
            NEW.journal_bytes, routeops_attributes_limit()
            USING ERRCODE = 'RO413';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION routeops_journal_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    attrs jsonb;
    size  integer;
BEGIN
    IF NEW.current_revision_id IS DISTINCT FROM OLD.current_revision_id THEN
        -- A repoint: lock the target as a foreign key check would, and
        -- copy it. It must exist.
        SELECT r.attributes, routeops_attributes_bytes(r.attributes, r.attributes_bytes) INTO attrs, size
        FROM work_item_revisions r
        WHERE r.org_id = NEW.org_id AND r.id = NEW.current_revision_id
        FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'item % of org % cannot point at revision %, which does not exist',
                NEW.id, NEW.org_id, NEW.current_revision_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    ELSIF (NEW.journal_revision_id, NEW.journal_attributes, NEW.journal_verified, NEW.journal_bytes)
          IS DISTINCT FROM (OLD.journal_revision_id, OLD.journal_attributes, OLD.journal_verified, OLD.journal_bytes) THEN
        IF NEW.journal_attributes IS NULL AND NEW.journal_revision_id IS NULL
           AND (SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = TG_RELID) THEN
            -- The table's owner clears the copy.
            NEW.journal_verified := false;
            NEW.journal_bytes := NULL;
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'the journal copy of item % is written only by routeops''s trigger, from the revision', NEW.id
            USING ERRCODE = 'insufficient_privilege';
    ELSIF OLD.journal_verified AND OLD.journal_revision_id = OLD.current_revision_id THEN
        RETURN NEW;
    ELSE
        -- Not a verified copy of the current revision: copy it now, if the
        -- revision is there.
        SELECT r.attributes, routeops_attributes_bytes(r.attributes, r.attributes_bytes) INTO attrs, size
        FROM work_item_revisions r
        WHERE r.org_id = NEW.org_id AND r.id = NEW.current_revision_id;
        IF NOT FOUND THEN
            RETURN NEW;
        END IF;
    END IF;
    NEW.journal_revision_id := NEW.current_revision_id;
    NEW.journal_attributes := attrs;
    NEW.journal_bytes := size;
    NEW.journal_verified := true;
    NEW.priority := routeops_priority_of(attrs, size);
    RETURN NEW;
END $$;

-- At commit: an item inserted before its revision gets its copy now.
CREATE FUNCTION routeops_journal_late() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE work_items SET current_revision_id = current_revision_id
    WHERE org_id = NEW.org_id AND id = NEW.id AND NOT journal_verified;
    RETURN NULL;
END $$;

CREATE TRIGGER work_items_journal_insert BEFORE INSERT ON work_items
    FOR EACH ROW EXECUTE FUNCTION routeops_journal_insert();
CREATE TRIGGER work_items_journal_update
    BEFORE UPDATE OF current_revision_id, journal_revision_id, journal_attributes, journal_verified, journal_bytes ON work_items
    FOR EACH ROW EXECUTE FUNCTION routeops_journal_update();
CREATE CONSTRAINT TRIGGER work_items_journal_late AFTER INSERT ON work_items
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NOT NEW.journal_verified) EXECUTE FUNCTION routeops_journal_late();
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_journal_insert;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_journal_update;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_journal_late;
