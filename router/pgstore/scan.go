package pgstore

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

// itemColumns are the work_items columns scanItem reads, in order. The
// journal copy's attributes are not among them: lists never fetch a blob
// they do not show. itemJournalCols adds them where they are shown.
var itemColumns = []string{"org_id", "id", "queue_id", "state", "current_revision_id", "priority", "enqueued_at",
	"agent_id", "assigned_at", "completed_at", "attempts", "left(%last_error, " + maxTextSQL + ")", "last_attempt_at", "fault_cause",
	"skipped", "left(%quarantine_reason, " + maxTextSQL + ")", "coalesce(%journal_revision_id, 0)", "%journal_verified"}

// maxTextSQL bounds the free text fetched with an item, a head or an
// event (last errors, quarantine reasons, actors), in characters: anyone
// who may update an item may write megabytes there, and every list would
// fetch them.
const maxTextSQL = "4096"

// itemColsAs renders itemColumns qualified with a table alias.
func itemColsAs(alias string) string {
	out := make([]string, len(itemColumns))
	for i, c := range itemColumns {
		p := ""
		if alias != "" {
			p = alias + "."
		}
		if strings.Contains(c, "%") {
			out[i] = strings.ReplaceAll(c, "%", p)
		} else {
			out[i] = p + c
		}
	}
	return strings.Join(out, ", ")
}

var itemCols = itemColsAs("")

// itemJournalColsAs are the journal copy's size and, when it is within the
// attributes limit (see migration 011), its text: scanItemJournal reads
// them after itemColumns.
func itemJournalColsAs(alias string) string {
	p := ""
	if alias != "" {
		p = alias + "."
	}
	size := "routeops_attributes_bytes(" + p + "journal_attributes, " + p + "journal_bytes)"
	return "coalesce(" + size + ", 0), CASE WHEN " + size + " > (SELECT routeops_attributes_limit()) THEN NULL ELSE " +
		p + "journal_attributes::text END"
}

// revisionAttrsSQL is a revision's size and, within the limit, its text,
// for a work_item_revisions row aliased r.
const revisionAttrsSQL = `coalesce(routeops_attributes_bytes(r.attributes, r.attributes_bytes), 0),
	CASE WHEN routeops_attributes_bytes(r.attributes, r.attributes_bytes) > (SELECT routeops_attributes_limit())
	     THEN NULL ELSE r.attributes::text END`

// itemDest returns scan destinations for itemColumns.
func itemDest(it *router.WorkItem, state, cause *string, agent **string, prio *int16) []any {
	return []any{&it.OrgID, &it.ID, &it.QueueID, state, &it.CurrentRevisionID, prio, &it.EnqueuedAt,
		agent, &it.AssignedAt, &it.CompletedAt, &it.Attempts, &it.LastError, &it.LastAttemptAt, cause,
		&it.Skipped, &it.QuarantineReason, &it.JournalRevisionID, &it.JournalVerified}
}

func finishItem(it *router.WorkItem, state, cause string, agent *string, prio int16) {
	it.State = router.ItemState(state)
	it.FaultCause = router.Cause(cause)
	it.Priority = int(prio)
	if agent != nil {
		it.AgentID = *agent
	}
	it.EnqueuedAt = it.EnqueuedAt.UTC()
	utcp(it.AssignedAt)
	utcp(it.CompletedAt)
	utcp(it.LastAttemptAt)
}

func scanItem(row pgx.Row) (router.WorkItem, error) {
	var it router.WorkItem
	var state, cause string
	var agent *string
	var prio int16
	if err := row.Scan(itemDest(&it, &state, &cause, &agent, &prio)...); err != nil {
		return it, err
	}
	finishItem(&it, state, cause, agent, prio)
	return it, nil
}

// scanItemJournal scans itemColumns followed by itemJournalColsAs, then
// extra destinations.
func scanItemJournal(row pgx.Row, extra ...any) (router.WorkItem, error) {
	var it router.WorkItem
	var state, cause string
	var agent, journal *string
	var prio int16
	dest := append(itemDest(&it, &state, &cause, &agent, &prio), &it.JournalBytes, &journal)
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return it, err
	}
	finishItem(&it, state, cause, agent, prio)
	if journal != nil {
		it.JournalAttributes = []byte(*journal)
	} else if it.JournalBytes > 0 {
		it.JournalOversized = true
	}
	return it, nil
}

func utcp(t *time.Time) {
	if t != nil {
		*t = t.UTC()
	}
}

// revCols are a revision's columns for a work_item_revisions row aliased
// r; its attributes only when within the limit.
const revCols = `r.org_id, r.id, r.work_item_id, r.created_at, r.source, ` + revisionAttrsSQL

func scanRevision(row pgx.Row) (router.Revision, error) {
	var r router.Revision
	var attrs *string
	if err := row.Scan(&r.OrgID, &r.ID, &r.WorkItemID, &r.CreatedAt, &r.Source, &r.Bytes, &attrs); err != nil {
		return r, err
	}
	if attrs != nil {
		r.Attributes = []byte(*attrs)
	} else {
		r.Oversized = true
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}

// eventCols are the columns scanEvent reads: free text bounded, and a
// detail object over the attributes limit replaced by its size.
const eventCols = `org_id, id, at, kind, coalesce(work_item_id, 0), left(coalesce(queue_id, ''), 256),
	left(actor, 256), left(origin, 256), left(os_user, 256),
	CASE WHEN routeops_attributes_bytes(detail, NULL) > (SELECT routeops_attributes_limit())
	     THEN jsonb_build_object('oversized_detail_bytes', routeops_attributes_bytes(detail, NULL))::text
	     ELSE detail::text END,
	left(coalesce(db_user, ''), 256), recorded_at,
	left(coalesce(operation_id, ''), 256)`

func scanEvent(row pgx.Row) (router.Event, error) {
	var e router.Event
	var detail string
	if err := row.Scan(&e.OrgID, &e.ID, &e.At, &e.Kind, &e.WorkItemID, &e.QueueID, &e.Actor, &e.Origin, &e.OSUser, &detail,
		&e.DBUser, &e.RecordedAt, &e.OperationID); err != nil {
		return e, err
	}
	e.At = e.At.UTC()
	utcp(e.RecordedAt)
	e.Detail = []byte(detail)
	return e, nil
}
