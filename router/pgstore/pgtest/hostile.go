package pgtest

import "github.com/routeops/routeops/router/pgstore"

// Hostile rows, as a platform integration or a compromised account could
// write them with raw SQL: terminal escapes that set the window title,
// write the clipboard (OSC 52), clear the screen and make text blinking,
// red and reversed; the C1 controls CSI (U+009B) and OSC (U+009D); a
// right-to-left override (U+202E); a bell; line breaks.
const (
	HostileOrg   = "evil\x1b]0;pwned\x07org"
	HostileQueue = "q\x1b]52;c;cHduZWQ=\x07\u009b2J\u202e"
	HostileTeam  = "t\x1b[31;5;7m"
	HostileAgent = "a\u009d0;x\x07"
	HostileActor = "mallory\x1b]52;c;cHduZWQ=\x07"
	// HostileLastError is every queued hostile item's last error.
	HostileLastError = "boom\x1b[2J\x07\u202e\nsecond line"
)

// Hostile writes an org, a queue, a team, an agent (without capacity),
// three queued items (one quarantined) and an operator event, every text
// field of them hostile: ids, attributes, last errors, quarantine
// reasons, the event's actor, origin, OS user and detail. The CHECK
// constraints that keep ids clean are dropped first, as on a database
// whose ids predate them. It returns the items' ids.
func (d *DB) Hostile() []int64 {
	d.tb.Helper()
	for _, c := range []string{"orgs_id_clean", "queues_id_clean", "teams_id_clean", "agents_id_clean"} {
		table := c[:len(c)-len("_id_clean")]
		d.Exec(`ALTER TABLE ` + table + ` DROP CONSTRAINT IF EXISTS ` + c)
	}
	d.Exec(`INSERT INTO orgs (id) VALUES ($1)`, HostileOrg)
	d.Exec(`INSERT INTO queues (org_id, id) VALUES ($1, $2), ($1, 'default')`, HostileOrg, HostileQueue)
	d.Exec(`INSERT INTO teams (org_id, id) VALUES ($1, $2)`, HostileOrg, HostileTeam)
	d.Exec(`INSERT INTO agents (org_id, id, team_id, capacity) VALUES ($1, $2, $3, 0)`, HostileOrg, HostileAgent, HostileTeam)
	ids := d.Ints(`WITH ids AS (SELECT nextval('work_items_id_seq') AS item, nextval('work_item_revisions_id_seq') AS rev
			FROM generate_series(1, 3)),
		r AS (INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes)
			SELECT $1, rev, item, jsonb_build_object('priority', 5, 'channel', 'chat', 'tier', E'x\x1b[2J\u202e\u009b\n')
			FROM ids RETURNING id, work_item_id)
		INSERT INTO work_items (org_id, id, queue_id, current_revision_id, enqueued_at, last_error, quarantine_reason, attempts)
		SELECT $1, work_item_id, $2, id, now() - interval '2 hours', $3, E'why\x1b]0;t\x07', 3 FROM r
		RETURNING id`, HostileOrg, HostileQueue, HostileLastError)
	d.Exec(`UPDATE work_items SET state = 'quarantined' WHERE id = $1`, ids[len(ids)-1])
	d.Exec(`INSERT INTO events (org_id, kind, actor, origin, os_user, work_item_id, queue_id, at, detail)
		VALUES ($1, 'quarantined', $2, E'10.0.0.1\u202e', E'root\u009b2J', $3, $4, now() - interval '30 minutes',
			jsonb_build_object('reason', E'r\x1b[2J\x07', 'cause', 'operator'))`, HostileOrg, HostileActor, ids[0], HostileQueue)
	return ids
}

// Oversized writes n queued items of org's queue whose current revisions
// (and so their journal copies) are attribute documents of about size
// bytes, written under a limit raised for them, which is then set back to
// the default: documents stored before the limit, or before it was
// lowered. It returns the items' ids.
func (d *DB) Oversized(org, queue string, n, size int) []int64 {
	d.tb.Helper()
	d.Exec(`UPDATE routeops_settings SET attributes_max_bytes = $1`, pgstore.MaxAttributesLimit)
	// One item a statement: each writes some 20 MB (the revision and the
	// journal copy), within the helpers' statement deadline.
	var ids []int64
	for range n {
		ids = append(ids, d.Int(`WITH ids AS (
				SELECT nextval('work_items_id_seq') AS item, nextval('work_item_revisions_id_seq') AS rev),
			r AS (INSERT INTO work_item_revisions (org_id, id, work_item_id, attributes)
				SELECT $1, rev, item, jsonb_build_object('priority', 90, 'channel', 'chat', 'tier', repeat(md5(item::text), $3 / 32))
				FROM ids RETURNING id, work_item_id)
			INSERT INTO work_items (org_id, id, queue_id, current_revision_id, priority, enqueued_at)
			SELECT $1, work_item_id, $2, id, 90, now() - interval '1 hour' FROM r
			RETURNING id`, org, queue, size))
	}
	d.Exec(`UPDATE routeops_settings SET attributes_max_bytes = $1`, pgstore.DefaultAttributesLimit)
	return ids
}
