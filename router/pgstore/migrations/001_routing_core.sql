-- routeops schema, version 1: the routing core.
--
-- Every table is keyed by org first and every hot query filters by org, so
-- that orgs can later be partitioned across databases or distributed by
-- org_id (Citus). The names of tables and the columns listed in DESIGN.md
-- are a contract: operators write SQL against them during incidents.

CREATE TABLE orgs (
    id         text PRIMARY KEY CHECK (id <> '' AND length(id) <= 128),
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE queues (
    org_id           text NOT NULL REFERENCES orgs (id),
    id               text NOT NULL CHECK (id <> '' AND length(id) <= 128),
    priority         integer NOT NULL DEFAULT 0,
    paused           boolean NOT NULL DEFAULT false,
    -- progress, written by the engine in the routing transaction
    last_assigned_at timestamptz,
    assigned_total   bigint NOT NULL DEFAULT 0,
    -- stall state, written by monitors exactly once per transition
    stalled_since    timestamptz,
    stall_cause      text NOT NULL DEFAULT '',
    PRIMARY KEY (org_id, id)
);

CREATE TABLE teams (
    org_id text NOT NULL REFERENCES orgs (id),
    id     text NOT NULL CHECK (id <> '' AND length(id) <= 128),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    PRIMARY KEY (org_id, id)
);

CREATE TABLE agents (
    org_id   text NOT NULL,
    id       text NOT NULL CHECK (id <> '' AND length(id) <= 128),
    team_id  text NOT NULL,
    skills   text[] NOT NULL DEFAULT '{}',
    status   text NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'away', 'offline')),
    capacity integer NOT NULL CHECK (capacity >= 0),
    load     integer NOT NULL DEFAULT 0 CHECK (load >= 0),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)
);

-- Revisions are immutable. The engine never updates or deletes them; only
-- cleanup deletes unreferenced, superseded ones.
CREATE SEQUENCE work_item_revisions_id_seq;
CREATE TABLE work_item_revisions (
    org_id       text NOT NULL,
    id           bigint NOT NULL DEFAULT nextval('work_item_revisions_id_seq'),
    work_item_id bigint NOT NULL,
    attributes   jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL DEFAULT 'platform',
    PRIMARY KEY (org_id, id)
);
ALTER SEQUENCE work_item_revisions_id_seq OWNED BY work_item_revisions.id;
-- an item's history, and "is this the newest revision of its item"
CREATE INDEX work_item_revisions_item ON work_item_revisions (org_id, work_item_id, id);
-- cleanup walks revisions in id order with a keyset cursor
CREATE INDEX work_item_revisions_id ON work_item_revisions (id);

CREATE SEQUENCE work_items_id_seq;
CREATE TABLE work_items (
    org_id              text NOT NULL,
    id                  bigint NOT NULL DEFAULT nextval('work_items_id_seq'),
    queue_id            text NOT NULL,
    state               text NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'assigned', 'completed', 'quarantined', 'cancelled')),
    current_revision_id bigint NOT NULL,
    -- the current revision's priority, denormalized so that the head of a
    -- queue is an index range scan
    priority            smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 100),
    enqueued_at         timestamptz NOT NULL DEFAULT now(),
    agent_id            text,
    assigned_at         timestamptz,
    completed_at        timestamptz,
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error          text NOT NULL DEFAULT '',
    last_attempt_at     timestamptz,
    fault_cause         text NOT NULL DEFAULT '',
    skipped             boolean NOT NULL DEFAULT false,
    quarantine_reason   text NOT NULL DEFAULT '',
    -- the journal: a copy of the current revision's attributes, written
    -- with the revision, that survives the revision row. Repair rebuilds a
    -- deleted or corrupted revision byte for byte from it.
    journal_revision_id bigint,
    journal_attributes  jsonb,
    PRIMARY KEY (org_id, id),
    CONSTRAINT work_items_queue_fk FOREIGN KEY (org_id, queue_id) REFERENCES queues (org_id, id),
    -- defence in depth: the engine must still survive its absence, since
    -- scripts running with session_replication_role = replica skip it.
    -- RESTRICT is checked at once even though inserts are deferred (an
    -- item and its first revision reference each other).
    CONSTRAINT work_items_current_revision_fk FOREIGN KEY (org_id, current_revision_id)
        REFERENCES work_item_revisions (org_id, id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
    -- state rules
    CONSTRAINT work_items_assigned_has_agent
        CHECK (state NOT IN ('assigned', 'completed') OR (agent_id IS NOT NULL AND assigned_at IS NOT NULL)),
    CONSTRAINT work_items_waiting_has_no_agent
        CHECK (state NOT IN ('queued', 'quarantined') OR agent_id IS NULL),
    CONSTRAINT work_items_completed_has_time
        CHECK (state <> 'completed' OR completed_at IS NOT NULL),
    CONSTRAINT work_items_skipped_is_queued
        CHECK (NOT skipped OR state = 'queued')
);
ALTER SEQUENCE work_items_id_seq OWNED BY work_items.id;

-- The head of each queue: an index range scan in routing order.
CREATE INDEX work_items_head ON work_items (org_id, queue_id, priority DESC, enqueued_at, id)
    WHERE state = 'queued' AND NOT skipped;
-- The oldest waiting item of each queue (skipped ones included).
CREATE INDEX work_items_oldest ON work_items (org_id, queue_id, enqueued_at)
    WHERE state = 'queued';
-- Assigned items per agent: completions, load checks.
CREATE INDEX work_items_assigned ON work_items (org_id, agent_id)
    WHERE state = 'assigned';
-- Quarantined and skipped items: the operator's worklist and repair plans.
CREATE INDEX work_items_faulted ON work_items (org_id, queue_id, id)
    WHERE state = 'quarantined' OR skipped;
-- "Does any item point at this revision?": cleanup's reference check.
CREATE INDEX work_items_current_revision ON work_items (org_id, current_revision_id);
-- Lookup by id alone (operators type ids). Not unique so that the table
-- can be distributed by org_id; the sequence keeps ids unique.
CREATE INDEX work_items_id ON work_items (id);

-- The journal of routing decisions and operator actions. Append-only.
CREATE SEQUENCE events_id_seq;
CREATE TABLE events (
    org_id       text NOT NULL,
    id           bigint NOT NULL DEFAULT nextval('events_id_seq'),
    at           timestamptz NOT NULL DEFAULT now(),
    kind         text NOT NULL,
    work_item_id bigint,
    queue_id     text,
    actor        text NOT NULL,
    origin       text NOT NULL DEFAULT '',
    os_user      text NOT NULL DEFAULT '',
    detail       jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, id)
);
ALTER SEQUENCE events_id_seq OWNED BY events.id;
CREATE INDEX events_item ON events (work_item_id) WHERE work_item_id IS NOT NULL;
CREATE INDEX events_at ON events (at, id);

CREATE FUNCTION routeops_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION routeops_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION routeops_events_append_only();
-- ALWAYS: also under session_replication_role = replica.
ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_truncate;

-- Engine liveness.
CREATE TABLE engine_heartbeats (
    engine_id  text PRIMARY KEY,
    host       text NOT NULL DEFAULT '',
    pid        integer NOT NULL DEFAULT 0,
    policy     text NOT NULL DEFAULT '',
    version    text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL,
    beat_at    timestamptz NOT NULL,
    stopped    boolean NOT NULL DEFAULT false
);

-- Assignments per queue in 10-second buckets, for throughput figures.
CREATE TABLE queue_throughput (
    org_id   text NOT NULL,
    queue_id text NOT NULL,
    bucket   timestamptz NOT NULL,
    n        integer NOT NULL,
    PRIMARY KEY (org_id, queue_id, bucket)
);

-- Item counts per queue and state bucket, kept by statement-level triggers
-- so that the monitor never counts a million rows. The triggers are
-- ENABLE ALWAYS, so they also fire under session_replication_role =
-- replica; TRUNCATE resets them. Buckets: the five states, except that a
-- queued item flagged by the skip policy counts under 'skipped'.
CREATE TABLE queue_counts (
    org_id   text NOT NULL,
    queue_id text NOT NULL,
    bucket   text NOT NULL,
    n        bigint NOT NULL,
    PRIMARY KEY (org_id, queue_id, bucket)
);

CREATE FUNCTION routeops_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_counts AS c (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, count(*)
    FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (org_id, queue_id, bucket) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION routeops_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
    RETURN NULL;
END $$;

CREATE FUNCTION routeops_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO queue_counts AS c (org_id, queue_id, bucket, n)
    SELECT org_id, queue_id, CASE WHEN state = 'queued' AND skipped THEN 'skipped' ELSE state END, -count(*)
    FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (org_id, queue_id, bucket) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END $$;

CREATE FUNCTION routeops_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM queue_counts;
    RETURN NULL;
END $$;

CREATE TRIGGER work_items_count_insert AFTER INSERT ON work_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_count_insert();
CREATE TRIGGER work_items_count_update AFTER UPDATE ON work_items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_count_update();
CREATE TRIGGER work_items_count_delete AFTER DELETE ON work_items
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_count_delete();
CREATE TRIGGER work_items_count_truncate AFTER TRUNCATE ON work_items
    FOR EACH STATEMENT EXECUTE FUNCTION routeops_count_truncate();
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_count_insert;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_count_update;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_count_delete;
ALTER TABLE work_items ENABLE ALWAYS TRIGGER work_items_count_truncate;

-- Wake engines when work arrives from any writer, including the platform
-- writing SQL directly. routeops's own writes also notify explicitly.
CREATE FUNCTION routeops_notify_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('routeops_work', org_id) FROM (SELECT DISTINCT org_id FROM new_rows WHERE state = 'queued') o;
    RETURN NULL;
END $$;
CREATE TRIGGER work_items_notify_insert AFTER INSERT ON work_items
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION routeops_notify_insert();

-- Attribute validity, mirroring router.ParseAttributes exactly (a test
-- compares the two on a corpus and under fuzzing). Used by verify and
-- repair to find invalid revisions with set-based SQL.
CREATE FUNCTION routeops_attributes_valid(a jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN a IS NULL OR jsonb_typeof(a) <> 'object' THEN false
    WHEN octet_length(a::text) > 65536 THEN false
    WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(a) k
                 WHERE k NOT IN ('priority', 'channel', 'team', 'skills', 'tier')) THEN false
    WHEN jsonb_typeof(a -> 'priority') IS DISTINCT FROM 'number' THEN false
    WHEN (a -> 'priority')::text !~ '^[0-9]{1,3}$' THEN false
    WHEN (a ->> 'priority')::int > 100 THEN false
    WHEN jsonb_typeof(a -> 'channel') IS DISTINCT FROM 'string' THEN false
    WHEN (a ->> 'channel') NOT IN ('chat', 'email', 'sms', 'voice') THEN false
    WHEN coalesce(jsonb_typeof(a -> 'team'), 'null') NOT IN ('null', 'string') THEN false
    WHEN jsonb_typeof(a -> 'team') = 'string' AND length(a ->> 'team') NOT BETWEEN 1 AND 64 THEN false
    WHEN coalesce(jsonb_typeof(a -> 'tier'), 'null') NOT IN ('null', 'string') THEN false
    WHEN jsonb_typeof(a -> 'tier') = 'string' AND length(a ->> 'tier') NOT BETWEEN 1 AND 32 THEN false
    WHEN coalesce(jsonb_typeof(a -> 'skills'), 'null') NOT IN ('null', 'array') THEN false
    WHEN jsonb_typeof(a -> 'skills') = 'array' AND (
             jsonb_array_length(a -> 'skills') > 32
             OR EXISTS (SELECT 1 FROM jsonb_array_elements(a -> 'skills') e
                        WHERE jsonb_typeof(e) <> 'string' OR length(e #>> '{}') NOT BETWEEN 1 AND 64)) THEN false
    ELSE true
END
$$;

-- Writers that do not go through routeops (the platform) get the journal
-- copy and the denormalized priority filled in from the revision.
CREATE FUNCTION routeops_fill_journal() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    attrs jsonb;
BEGIN
    SELECT r.attributes INTO attrs FROM work_item_revisions r
    WHERE r.org_id = NEW.org_id AND r.id = NEW.current_revision_id;
    IF FOUND THEN
        NEW.journal_revision_id := NEW.current_revision_id;
        NEW.journal_attributes := attrs;
        NEW.priority := CASE WHEN routeops_attributes_valid(attrs) THEN (attrs ->> 'priority')::smallint ELSE 0 END;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER work_items_fill_journal BEFORE INSERT OR UPDATE OF current_revision_id ON work_items
    FOR EACH ROW WHEN (NEW.journal_revision_id IS DISTINCT FROM NEW.current_revision_id)
    EXECUTE FUNCTION routeops_fill_journal();
