package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// TestServeMetrics: serve --metrics-addr serves Prometheus /metrics with
// every metric the design names, the queue metrics labelled by org and
// queue, and counters that move with what the engine does.
func TestServeMetrics(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "3", "--items-per-org", "20")
	d := pgtest.Connect(t, dsn)
	d.DeleteCurrentRevisions(d.HeadItems("org-0002", "default", 1)...)

	addr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	serve := c.Start("serve", "--metrics-addr", addr, "--duration", "3m")
	labelled := []string{"routeops_queue_depth", "routeops_queue_oldest_age_seconds", "routeops_queue_head_attempts",
		"routeops_queue_stalled", "routeops_queue_available_capacity", "routeops_items_quarantined"}
	var body string
	var missing []string
	took, ok := harness.Poll(60*time.Second, 250*time.Millisecond, func() bool {
		if !serve.Running() {
			return false
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			missing = []string{"(no answer: " + err.Error() + ")"}
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		missing = nil
		for _, m := range labelled {
			re := regexp.MustCompile(`(?m)^` + m + `\{[^}]*org="org-0002"[^}]*queue="default"[^}]*\} `)
			if !re.MatchString(body) {
				missing = append(missing, m+`{org="org-0002",queue="default"}`)
			}
		}
		if v, ok := harness.Sample(body, `routeops_assignments_total`); !ok || v < 1 {
			missing = append(missing, "routeops_assignments_total >= 1")
		}
		if v, ok := harness.Sample(body, `routeops_item_faults_total{cause="missing_revision"}`); !ok || v < 1 {
			missing = append(missing, `routeops_item_faults_total{cause="missing_revision"} >= 1`)
		}
		if v, ok := harness.Sample(body, `routeops_engine_heartbeat_timestamp_seconds`); !ok || v < float64(serve.Started.Unix()-1) {
			missing = append(missing, "routeops_engine_heartbeat_timestamp_seconds from this run")
		}
		if v, ok := harness.Sample(body, `routeops_items_quarantined{org="org-0002",queue="default"}`); !ok || v != 1 {
			missing = append(missing, `routeops_items_quarantined{org="org-0002",queue="default"} 1`)
		}
		return len(missing) == 0
	})
	if !ok {
		t.Fatalf("/metrics still lacks %v after %s:\n%s\nserve:\n%s", missing, took, harness.Clip(body), serve.Stderr.String())
	}
	t.Logf("/metrics complete %.2fs after serve started", time.Since(serve.Started).Seconds())
	for _, m := range append(labelled, "routeops_assignments_total", "routeops_item_faults_total",
		"routeops_engine_heartbeat_timestamp_seconds") {
		if !strings.Contains(body, "# TYPE "+m+" ") {
			t.Errorf("/metrics has no TYPE line for %s", m)
		}
	}
	serve.Interrupt()
	if r := serve.Wait(time.Minute); r.Code != 0 {
		t.Errorf("serve should exit 0 on SIGINT:\n%s", r)
	}
}

// TestDemoAndBareRouteopsWithoutTerminal: the embedded demo runs headless without a terminal and
// prints the status JSON; bare routeops without a terminal prints the
// status of the configured database (or of the demo without one) and
// exits 0; the DSN's password never shows.
func TestDemoAndBareRouteopsWithoutTerminal(t *testing.T) {
	c := harness.New(t, "")
	r := c.Must("demo", "--duration", "5s", "-o", "json")
	s := mustStatus(t, r)
	if s.Summary.Orgs < 15 || s.Summary.Orgs > 25 {
		t.Errorf("the demo has %d orgs, want about 20", s.Summary.Orgs)
	}
	if s.Summary.Assigned == 0 {
		t.Errorf("the demo assigned nothing in 5s: %+v", s.Summary)
	}
	t.Logf("demo --duration 5s: %+v (took %.1fs)", s.Summary, r.Took.Seconds())

	// Bare routeops without a DSN: the embedded demo's status.
	r = c.Must()
	if !strings.Contains(r.Stdout, "routeops status") || !strings.Contains(r.Stdout, "embedded demo") {
		t.Errorf("bare routeops without a terminal or DSN should print the demo's status:\n%s", r)
	}

	// Bare routeops with ROUTEOPS_DSN: that database's status.
	const pw = "e2e-secret-pw"
	dsn := pgtest.NewDB(t)
	dsnPW := withPassword(t, dsn, pw)
	db := c.WithDSN(dsnPW)
	db.Must("seed", "--orgs", "4", "--items-per-org", "5")
	r = db.Must()
	if !strings.Contains(r.Stdout, "routeops status") || !strings.Contains(r.Stdout, redactedDSN(t, dsn)) ||
		strings.Contains(r.Stdout, "embedded demo") {
		t.Errorf("bare routeops with ROUTEOPS_DSN should print that database's status (store %s):\n%s", redactedDSN(t, dsn), r)
	}
	r = db.Must("-o", "json")
	s = mustStatus(t, r)
	var orgs []string
	for _, o := range s.Orgs {
		orgs = append(orgs, o.Org)
	}
	if s.Summary.Orgs != 4 || !strings.Contains(strings.Join(orgs, " "), "org-0004") || s.Summary.Queued != 20 {
		t.Errorf("bare routeops -o json shows orgs %v and summary %+v, want the 4 seeded orgs with 20 queued", orgs, s.Summary)
	}
	for _, r := range []harness.Result{r, db.Must(), db.Must("config"), db.Run("status", "--org", "nope")} {
		if strings.Contains(r.Stdout+r.Stderr, pw) {
			t.Errorf("the DSN's password shows:\n%s", r)
		}
	}
}

// TestDemoIncidentStallsUnderBlockPolicy: the headless incident demo under the block policy ends
// with the queue stalled on the missing revision.
func TestDemoIncidentStallsUnderBlockPolicy(t *testing.T) {
	c := harness.New(t, "")
	r := c.Must("demo", "--incident", "--on-item-fault", "block", "--stall-after", "2s", "--duration", "8s", "-o", "json")
	s := mustStatus(t, r)
	stalled := s.stalled()
	t.Logf("demo --incident --on-item-fault block: stalled %v, summary %+v", stalled, s.Summary)
	found := false
	for _, o := range s.Orgs {
		for _, q := range o.Queues {
			if q.Stalled && q.Cause == "missing_revision" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("the incident demo's final status has no queue stalled with cause missing_revision (stalled: %v)\n"+
			"incident log lines:\n%s", stalled, grepLines(r.Stderr, "incident", "stall"))
	}
}

func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
