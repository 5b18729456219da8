package pgstore

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/router"
)

// itemColumns are the work_items columns scanItem reads, in order.
var itemColumns = []string{"org_id", "id", "queue_id", "state", "current_revision_id", "priority", "enqueued_at",
	"agent_id", "assigned_at", "completed_at", "attempts", "last_error", "last_attempt_at", "fault_cause",
	"skipped", "quarantine_reason", "coalesce(%journal_revision_id, 0)", "%journal_attributes::text"}

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

func scanItem(row pgx.Row) (router.WorkItem, error) {
	var it router.WorkItem
	var state, cause string
	var agent, journal *string
	var prio int16
	err := row.Scan(&it.OrgID, &it.ID, &it.QueueID, &state, &it.CurrentRevisionID, &prio, &it.EnqueuedAt,
		&agent, &it.AssignedAt, &it.CompletedAt, &it.Attempts, &it.LastError, &it.LastAttemptAt, &cause,
		&it.Skipped, &it.QuarantineReason, &it.JournalRevisionID, &journal)
	if err != nil {
		return it, err
	}
	it.State = router.ItemState(state)
	it.FaultCause = router.Cause(cause)
	it.Priority = int(prio)
	if agent != nil {
		it.AgentID = *agent
	}
	if journal != nil {
		it.JournalAttributes = []byte(*journal)
	}
	it.EnqueuedAt = it.EnqueuedAt.UTC()
	utcp(it.AssignedAt)
	utcp(it.CompletedAt)
	utcp(it.LastAttemptAt)
	return it, nil
}

func utcp(t *time.Time) {
	if t != nil {
		*t = t.UTC()
	}
}

const revCols = `org_id, id, work_item_id, attributes::text, created_at, source`

func scanRevision(row pgx.Row) (router.Revision, error) {
	var r router.Revision
	var attrs string
	if err := row.Scan(&r.OrgID, &r.ID, &r.WorkItemID, &attrs, &r.CreatedAt, &r.Source); err != nil {
		return r, err
	}
	r.Attributes = []byte(attrs)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}

const eventCols = `org_id, id, at, kind, coalesce(work_item_id, 0), coalesce(queue_id, ''), actor, origin, os_user, detail::text,
	coalesce(operation_id, '')`

func scanEvent(row pgx.Row) (router.Event, error) {
	var e router.Event
	var detail string
	if err := row.Scan(&e.OrgID, &e.ID, &e.At, &e.Kind, &e.WorkItemID, &e.QueueID, &e.Actor, &e.Origin, &e.OSUser, &detail,
		&e.OperationID); err != nil {
		return e, err
	}
	e.At = e.At.UTC()
	e.Detail = []byte(detail)
	return e, nil
}
