-- routeops schema, version 13: acting on sets of items during an incident.
--
-- Bulk actions (quarantine, release, repair on a selection) record one
-- operation id in every event they write, so that the timeline groups
-- them and a re-run of an interrupted action finds what it already did.
-- Pauses and team status changes say who, why and until when. And two
-- indexes serve the item selector's attribute filter.

-- One bulk action. A re-run of an unfinished one (same action, same
-- selection: the fingerprint) resumes it under the same id.
CREATE TABLE operations (
    id          text PRIMARY KEY CHECK (id <> '' AND length(id) <= 64),
    kind        text NOT NULL,
    fingerprint text NOT NULL,
    selector    text NOT NULL DEFAULT '',
    actor       text NOT NULL,
    origin      text NOT NULL DEFAULT '',
    os_user     text NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE UNIQUE INDEX operations_open ON operations (fingerprint) WHERE finished_at IS NULL;

-- Adding a nullable column without a default rewrites nothing.
ALTER TABLE events ADD COLUMN operation_id text;
-- "Which items did this operation already change?" (resumption), and the
-- timeline's grouping. Only bulk actions' events are in it.
CREATE INDEX events_operation ON events (operation_id, work_item_id) WHERE operation_id IS NOT NULL;

-- Pauses with a reason and an end. paused_until is when an engine resumes
-- the queue (routeops_resume_expired); NULL: until someone resumes it.
ALTER TABLE queues
    ADD COLUMN paused_by    text NOT NULL DEFAULT '',
    ADD COLUMN pause_reason text NOT NULL DEFAULT '',
    ADD COLUMN paused_at    timestamptz,
    ADD COLUMN paused_until timestamptz;
CREATE INDEX queues_paused_until ON queues (paused_until) WHERE paused AND paused_until IS NOT NULL;

ALTER TABLE teams
    ADD COLUMN paused_by    text NOT NULL DEFAULT '',
    ADD COLUMN pause_reason text NOT NULL DEFAULT '',
    ADD COLUMN paused_at    timestamptz;

-- The selector's --attr KEY=VALUE is jsonb containment on the journal copy
-- kept on the item (see router.SearchAttributes): the current revision's
-- attributes as written, which survive the revision row. A GIN index on
-- the waiting items only (queued and quarantined, the ones an operator
-- acts on): an assignment or a completion moves an item out of its
-- predicate, so routing adds no entries to it; an enqueue, a quarantine
-- and a release add one.
CREATE INDEX work_items_waiting_attrs ON work_items USING gin (journal_attributes jsonb_path_ops)
    WHERE state IN ('queued', 'quarantined');
-- Items whose journal copy is not of their current revision (a writer
-- pointed the item at a revision that did not exist yet): the attribute
-- filter reads their revision instead. Normally empty.
CREATE INDEX work_items_journal_stale ON work_items (org_id, id)
    WHERE journal_revision_id IS DISTINCT FROM current_revision_id;
