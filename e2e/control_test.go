package e2e

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

type queueJSON struct {
	Queue       string     `json:"queue"`
	Paused      bool       `json:"paused"`
	Cause       string     `json:"cause"`
	Stalled     bool       `json:"stalled"`
	PausedBy    string     `json:"paused_by"`
	PauseReason string     `json:"pause_reason"`
	PausedUntil *time.Time `json:"paused_until"`
	Head        *struct {
		Item string `json:"item"`
		Team string `json:"team"`
	} `json:"head"`
}

type statusJSON struct {
	Orgs []struct {
		Org    string      `json:"org"`
		Queues []queueJSON `json:"queues"`
	} `json:"orgs"`
}

// status reads status -o json --all into a fresh value (decoding into a
// used one would keep fields the new JSON leaves out).
func status(c *harness.Bin) statusJSON {
	var s statusJSON
	c.MustJSON(&s, 0, "status", "-o", "json", "--all")
	return s
}

func findQueue(t *testing.T, s statusJSON, org, queue string) queueJSON {
	t.Helper()
	for _, o := range s.Orgs {
		for _, q := range o.Queues {
			if o.Org == org && q.Queue == queue {
				return q
			}
		}
	}
	t.Fatalf("status has no queue %s/%s", org, queue)
	return queueJSON{}
}

// TestTimedPauseResumesItself: pause --reason --for shows who, why and
// until when in status JSON; once the time is up an engine resumes the
// queue, journalled; pause without --reason is a usage error.
func TestTimedPauseResumesItself(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "2", "--agents-per-org", "2", "--capacity", "20", "--items-per-org", "20")
	d := pgtest.Connect(t, dsn)
	c.Expect(1, "pause", "org-0001/default", "--yes")
	c.Expect(1, "pause", "org-0001/default", "--reason", "x", "--for", "10ms", "--yes")
	before := time.Now()
	c.Must("pause", "org-0001/default", "--reason", "billing backend down", "--for", "1h", "--yes", "--operator", "dana")
	q := findQueue(t, status(c), "org-0001", "default")
	if !q.Paused || q.PausedBy != "dana" || q.PauseReason != "billing backend down" || q.PausedUntil == nil ||
		q.PausedUntil.Before(before.Add(time.Hour-time.Minute)) || q.PausedUntil.After(time.Now().Add(time.Hour)) || q.Stalled {
		t.Fatalf("paused queue in status: %+v", q)
	}
	r := c.Must("status", "--org", "org-0001")
	if !strings.Contains(r.Stdout, "PAUSED · by dana: billing backend down, until ") {
		t.Fatalf("status does not say who paused, why and until when:\n%s", r)
	}
	// The hour passes (the pause's end moved into the past, as time would).
	d.Exec(`UPDATE queues SET paused_until = now() - interval '1 second' WHERE org_id = 'org-0001' AND id = 'default'`)
	c.Must("serve", "--until-idle")
	if q := findQueue(t, status(c), "org-0001", "default"); q.Paused || q.PausedBy != "" || q.PausedUntil != nil {
		t.Fatalf("after its end the pause is still there: %+v", q)
	}
	if n := d.Int(`SELECT count(*) FROM events WHERE kind = 'queue_resumed' AND org_id = 'org-0001' AND queue_id = 'default'
		AND (detail ->> 'expired')::boolean AND actor LIKE 'engine:%'`); n != 1 {
		t.Fatalf("%d queue_resumed events by an engine for the expired pause, want 1", n)
	}
	if n := d.Int(`SELECT count(*) FROM work_items WHERE org_id = 'org-0001' AND queue_id = 'default' AND state = 'assigned'`); n == 0 {
		t.Fatal("nothing was routed from the queue after its pause ended")
	}
	r = c.Must("timeline", "--since", "1h")
	if !strings.Contains(r.Stdout, "dana paused queue default: billing backend down") || !strings.Contains(r.Stdout, "its pause ended") {
		t.Fatalf("the timeline does not tell the pause and its end:\n%s", r)
	}
}

// TestTeamPauseShowsTeamPaused: team pause makes the queue whose head
// needs the team PAUSED with cause team_paused (never stalled); team
// resume clears it; both are journalled; teams list and agents list show
// them; agent set-status changes and journals an agent's presence.
func TestTeamPauseShowsTeamPaused(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "3", "--agents-per-org", "3", "--capacity", "1", "--items-per-org", "60")
	d := pgtest.Connect(t, dsn)
	s := status(c)
	var org, queue, team string
	for _, o := range s.Orgs {
		for _, q := range o.Queues {
			if q.Head != nil && q.Head.Team != "" && org == "" {
				org, queue, team = o.Org, q.Queue, q.Head.Team
			}
		}
	}
	if org == "" {
		t.Fatal("no queue's head needs a team in the seeded data")
	}
	c.Expect(1, "team", "pause", org+"/"+team, "--yes")
	c.Must("team", "pause", org+"/"+team, "--reason", "team offsite", "--yes", "--operator", "erin")
	if q := findQueue(t, status(c), org, queue); q.Cause != "team_paused" || q.Stalled {
		t.Fatalf("queue %s/%s behind paused team %s: cause %q stalled %v, want team_paused and not stalled", org, queue, team, q.Cause, q.Stalled)
	}
	r := c.Must("teams", "list", "--org", org)
	if !strings.Contains(r.Stdout, "paused") || !strings.Contains(r.Stdout, "erin") || !strings.Contains(r.Stdout, "team offsite") {
		t.Fatalf("teams list does not show the pause:\n%s", r)
	}
	c.Must("team", "resume", org+"/"+team, "--yes")
	if q := findQueue(t, status(c), org, queue); q.Cause == "team_paused" {
		t.Fatalf("after team resume the queue still says team_paused: %+v", q)
	}
	if n := d.Int(`SELECT count(*) FROM events WHERE kind IN ('team_paused', 'team_resumed') AND org_id = $1 AND detail ->> 'team' = $2`, org, team); n != 2 {
		t.Fatalf("%d team events, want 2", n)
	}
	agent := d.Str(`SELECT min(id) FROM agents WHERE org_id = $1`, org)
	c.Must("agent", "set-status", org+"/"+agent, "away", "--yes")
	r = c.Must("agents", "list", "--org", org)
	if !strings.Contains(r.Stdout, agent) || !strings.Contains(r.Stdout, "away") {
		t.Fatalf("agents list:\n%s", r)
	}
	if n := d.Int(`SELECT count(*) FROM events WHERE kind = 'agent_status_changed' AND org_id = $1 AND actor = $2`, org, harness.OperatorUser); n != 1 {
		t.Fatalf("%d agent_status_changed events, want 1", n)
	}
	c.Expect(1, "agent", "set-status", org+"/"+agent, "asleep", "--yes")
	c.Expect(2, "agent", "set-status", org+"/nobody", "away", "--yes")
	c.Expect(2, "--read-only", "team", "pause", org+"/"+team, "--reason", "x", "--yes")
}

// orgImpact is an org of impact -o json.
type orgImpact struct {
	Org             string
	ItemsOverSLA    int     `json:"items_over_sla"`
	MaxWaitSeconds  float64 `json:"max_wait_seconds"`
	P50WaitSeconds  float64 `json:"p50_wait_seconds"`
	P95WaitSeconds  float64 `json:"p95_wait_seconds"`
	CustomerMinutes float64 `json:"customer_minutes"`
	StallWindows    []struct {
		Queue, Cause string
		From         time.Time
		To           *time.Time
	} `json:"stall_windows"`
	Quarantined, Repaired int
}

// TestImpactEqualsDirectComputation: on a scripted incident, every figure
// of impact -o json equals one computed here from the rows, in Go.
func TestImpactEqualsDirectComputation(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "3", "--agents-per-org", "2", "--capacity", "4", "--items-per-org", "40")
	d := pgtest.Connect(t, dsn)
	// The incident: org-0002's heads lose their revisions, the engine
	// quarantines them, some are repaired; a stall is recorded; then the
	// engine routes what capacity allows and the rest waits.
	d.DeleteCurrentRevisions(d.HeadItems("org-0002", "default", 4)...)
	c.Must("serve", "--until-idle")
	c.Must("repair", "apply", "--org", "org-0002", "--yes")
	d.Exec(`INSERT INTO events (org_id, at, kind, queue_id, actor, detail) VALUES
		('org-0002', now() - interval '4 minutes', 'stall_detected', 'default', 'monitor:t', '{"cause": "missing_revision"}'),
		('org-0002', now() - interval '2 minutes', 'stall_cleared', 'default', 'monitor:t', '{}')`)
	var rep struct {
		Since, Until time.Time
		SLASeconds   float64 `json:"sla_seconds"`
		Summary      struct {
			OrgsAffected    int     `json:"orgs_affected"`
			ItemsOverSLA    int     `json:"items_over_sla"`
			CustomerMinutes float64 `json:"customer_minutes"`
		}
		Orgs []orgImpact
	}
	c.MustJSON(&rep, 0, "impact", "--since", "2h", "--sla", "4m", "-o", "json")
	if rep.SLASeconds != 240 || !rep.Until.After(rep.Since) {
		t.Fatalf("report window %v..%v sla %v", rep.Since, rep.Until, rep.SLASeconds)
	}
	// The direct computation: every item enqueued in the window, its wait
	// to its assignment or to the report's end, in microseconds.
	waits := map[string][]int64{}
	rows := d.Map(`SELECT id, org_id || ' ' || (extract(epoch FROM coalesce(assigned_at, $2) - enqueued_at) * 1000000)::bigint
		FROM work_items WHERE enqueued_at >= $1 AND enqueued_at < $2 AND state <> 'cancelled'`, rep.Since, rep.Until)
	for _, v := range rows {
		org, usText, _ := strings.Cut(v, " ")
		us, err := strconv.ParseInt(usText, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		waits[org] = append(waits[org], us)
	}
	sla := int64(240e6)
	affected, overAll, minutesAll := 0, 0, 0.0
	for _, o := range rep.Orgs {
		ws := waits[o.Org]
		sort.Slice(ws, func(i, j int) bool { return ws[i] < ws[j] })
		pct := func(p float64) float64 {
			k := int(math.Ceil(p * float64(len(ws))))
			return float64(ws[min(max(k, 1), len(ws))-1]) / 1e6
		}
		over, excess := 0, int64(0)
		for _, w := range ws {
			if w > sla {
				over++
				excess += w - sla
			}
		}
		if o.ItemsOverSLA != over || o.MaxWaitSeconds != float64(ws[len(ws)-1])/1e6 || o.P50WaitSeconds != pct(0.5) ||
			o.P95WaitSeconds != pct(0.95) || math.Abs(o.CustomerMinutes-float64(excess)/60e6) > 1e-9 {
			t.Errorf("%s: report %+v; direct: over %d max %v p50 %v p95 %v minutes %v", o.Org, o, over,
				float64(ws[len(ws)-1])/1e6, pct(0.5), pct(0.95), float64(excess)/60e6)
		}
		quar := int(d.Int(`SELECT count(DISTINCT work_item_id) FROM events WHERE org_id = $1 AND kind = 'quarantined' AND at >= $2 AND at < $3`,
			o.Org, rep.Since, rep.Until))
		repd := int(d.Int(`SELECT count(DISTINCT work_item_id) FROM events WHERE org_id = $1 AND kind = 'revision_repaired' AND at >= $2 AND at < $3`,
			o.Org, rep.Since, rep.Until))
		if o.Quarantined != quar || o.Repaired != repd {
			t.Errorf("%s: quarantined %d repaired %d, direct %d and %d", o.Org, o.Quarantined, o.Repaired, quar, repd)
		}
		if over > 0 || len(o.StallWindows) > 0 || o.Quarantined > 0 {
			affected++
		}
		overAll += over
		minutesAll += float64(excess) / 60e6
	}
	if len(rep.Orgs) != 3 || rep.Summary.OrgsAffected != affected || rep.Summary.ItemsOverSLA != overAll ||
		math.Abs(rep.Summary.CustomerMinutes-minutesAll) > 1e-6 {
		t.Errorf("summary %+v; direct: %d orgs, %d affected, %d over, %v minutes", rep.Summary, len(rep.Orgs), affected, overAll, minutesAll)
	}
	i := slices.IndexFunc(rep.Orgs, func(o orgImpact) bool {
		return o.Org == "org-0002"
	})
	if i < 0 || len(rep.Orgs[i].StallWindows) != 1 || rep.Orgs[i].StallWindows[0].Cause != "missing_revision" ||
		rep.Orgs[i].StallWindows[0].To == nil || rep.Orgs[i].Quarantined != 4 || rep.Orgs[i].Repaired != 4 {
		t.Errorf("org-0002's incident in the report: %+v", rep.Orgs)
	}
	r := c.Must("impact", "--since", "2h", "-o", "markdown")
	if !strings.Contains(r.Stdout, "# Impact") || !strings.Contains(r.Stdout, "oldest wait ") || !strings.Contains(r.Stdout, "org-0002") {
		t.Fatalf("markdown report:\n%s", r)
	}
	c.Expect(1, "impact")
}
