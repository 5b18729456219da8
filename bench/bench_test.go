package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/router/pgstore/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestScenarios runs every scenario at a tiny size against the test server
// and checks that each prints every figure, sane; no timing is asserted.
func TestScenarios(t *testing.T) {
	srv := pgtest.Shared(t)
	const orgs, per = 4, 20
	opts := Options{
		DSN: srv.AdminDSN, Scale: 0.002, Orgs: orgs, ItemsPerOrg: per,
		LatencyRate: 100, LatencyDuration: time.Second, SnapshotRuns: 2, CleanupPause: time.Millisecond,
	}
	var out bytes.Buffer
	var results []*Result
	err := Run(context.Background(), opts, Scenarios, func(r *Result) error {
		results = append(results, r)
		if err := WriteTable(&out, r); err != nil {
			return err
		}
		return WriteJSON(&out, r)
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if len(results) != len(Scenarios) {
		t.Fatalf("got %d results for %d scenarios", len(results), len(Scenarios))
	}
	lines := map[string]map[string]any{}
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		lines[m["scenario"].(string)] = m
	}
	if len(lines) != len(Scenarios) {
		t.Fatalf("got %d JSON objects, want %d:\n%s", len(lines), len(Scenarios), out.String())
	}

	common := []string{"scenario", "items", "seconds", "total_seconds", "scale", "full_scale", "targets", "target_met",
		"notes", "nproc", "mem_total_mb", "load_avg_1m", "postgres_version", "fsync", "synchronous_commit",
		"full_page_writes", "shared_buffers"}
	figures := map[string][]string{
		"throughput": {"items_per_second", "pgbench_items_per_second", "ratio_vs_pgbench", "pgbench_bare_items_per_second",
			"ratio_vs_pgbench_bare", "assigned", "batch_size", "workers"},
		"poison":   {"items_per_second", "ratio_vs_clean", "stalled_queues", "clean_items_per_second", "quarantined", "expected_quarantined", "left_queued"},
		"latency":  {"p50_ms", "p99_ms", "max_ms", "mean_ms", "assigned", "achieved_rate_per_second"},
		"snapshot": {"status_ms", "seed_seconds", "store_snapshot_ms", "evaluate_ms", "status_ms_vacuumed", "orgs", "queues", "queued"},
		"repair":   {"plan_seconds", "apply_seconds", "repaired", "items_missing_revision", "verify_clean"},
		"cleanup":  {"deleted_per_second", "ratio_during_cleanup", "routing_alone_per_second", "routing_during_cleanup_per_second", "deleted", "eligible"},
		"seed":     {"seed_seconds", "items_per_second", "revisions"},
	}
	num := func(m map[string]any, k string) float64 {
		t.Helper()
		v, ok := m[k].(float64)
		if !ok {
			t.Fatalf("%s: %s is %v (%T), want a number", m["scenario"], k, m[k], m[k])
		}
		if math.IsNaN(v) || v < 0 {
			t.Fatalf("%s: %s = %v", m["scenario"], k, v)
		}
		return v
	}
	for _, r := range results {
		if r.Err != "" {
			t.Errorf("%s failed: %s", r.Scenario, r.Err)
			continue
		}
		m := lines[r.Scenario]
		for _, k := range append(common, figures[r.Scenario]...) {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: no %q in %v", r.Scenario, k, m)
			}
		}
		if m["target_met"] != nil {
			t.Errorf("%s: target judged on a scaled run: %v", r.Scenario, m["target_met"])
		}
		if num(m, "nproc") < 1 || m["postgres_version"] == "" || m["fsync"] == "" {
			t.Errorf("%s: no machine context: %v", r.Scenario, m)
		}
		num(m, "seconds")
		num(m, "items")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out.String())
		return
	}

	tp := lines["throughput"]
	if got := num(tp, "assigned"); got != orgs*per {
		t.Errorf("throughput assigned %v, want %d", got, orgs*per)
	}
	if num(tp, "items_per_second") <= 0 {
		t.Errorf("throughput items_per_second is 0")
	}
	if tp["pgbench_items_per_second"] == nil {
		if s, _ := tp["pgbench_error"].(string); s == "" {
			t.Errorf("throughput: no pgbench figure and no reason: %v", tp)
		}
	} else if num(tp, "pgbench_items_per_second") <= 0 || num(tp, "ratio_vs_pgbench") <= 0 {
		t.Errorf("throughput: pgbench figures not positive: %v", tp)
	}
	if tp["pgbench_bare_items_per_second"] == nil {
		if s, _ := tp["pgbench_error"].(string); s == "" {
			if s, _ := tp["pgbench_bare_error"].(string); s == "" {
				t.Errorf("throughput: no bare pgbench figure and no reason: %v", tp)
			}
		}
	} else if num(tp, "pgbench_bare_items_per_second") <= 0 || num(tp, "pgbench_bare_items") <= 0 {
		t.Errorf("throughput: bare pgbench figures not positive: %v", tp)
	}

	po := lines["poison"]
	// Two poisoned drains, each quarantining one item per org.
	if num(po, "quarantined") != num(po, "expected_quarantined") || num(po, "expected_quarantined") != 2*orgs {
		t.Errorf("poison quarantined %v, expected %v (one per org in each of two drains)", po["quarantined"], po["expected_quarantined"])
	}
	if runs, _ := po["poisoned_runs_per_second"].([]any); len(runs) != 2 {
		t.Errorf("poison: want two poisoned drains, got %v", po["poisoned_runs_per_second"])
	}
	if num(po, "stalled_queues") != 0 || num(po, "left_queued") != 0 {
		t.Errorf("poison left work behind: %v", po)
	}
	if num(po, "ratio_vs_clean") <= 0 {
		t.Errorf("poison ratio_vs_clean not positive")
	}

	la := lines["latency"]
	if !(num(la, "p50_ms") <= num(la, "p99_ms") && num(la, "p99_ms") <= num(la, "max_ms")) {
		t.Errorf("latency quantiles out of order: %v", la)
	}
	if !(num(la, "p50_committed_ms") <= num(la, "p99_committed_ms") && num(la, "p99_committed_ms") <= num(la, "max_committed_ms")) ||
		num(la, "p99_committed_ms") < num(la, "p99_ms") {
		t.Errorf("latency committed quantiles out of order: %v", la)
	}
	if num(la, "assigned") != num(la, "items") || num(la, "items") < 50 {
		t.Errorf("latency assigned %v of %v", la["assigned"], la["items"])
	}

	sn := lines["snapshot"]
	if num(sn, "queued") != orgs*per || num(sn, "orgs") != orgs || num(sn, "queues") != 2*orgs {
		t.Errorf("snapshot saw %v orgs, %v queues, %v queued", sn["orgs"], sn["queues"], sn["queued"])
	}
	if num(sn, "status_ms") <= 0 {
		t.Errorf("snapshot status_ms not positive")
	}

	re := lines["repair"]
	if num(re, "repaired") != num(re, "items_missing_revision") || num(re, "repaired") != orgs*max(1, per/10) {
		t.Errorf("repair repaired %v of %v", re["repaired"], re["items_missing_revision"])
	}
	if re["verify_clean"] != true {
		t.Errorf("repair left findings")
	}

	cl := lines["cleanup"]
	if num(cl, "deleted") != num(cl, "eligible") || num(cl, "deleted") == 0 {
		t.Errorf("cleanup deleted %v of %v", cl["deleted"], cl["eligible"])
	}
	if num(cl, "ratio_during_cleanup") <= 0 {
		t.Errorf("cleanup ratio not positive")
	}

	se := lines["seed"]
	if num(se, "items") != orgs*per || num(se, "revisions") < orgs*per {
		t.Errorf("seed wrote %v items, %v revisions", se["items"], se["revisions"])
	}
}

// TestDatabasesDropped checks that a run leaves no database behind.
func TestDatabasesDropped(t *testing.T) {
	srv := pgtest.Shared(t)
	opts := Options{DSN: srv.AdminDSN, Orgs: 2, ItemsPerOrg: 5, Scale: 0.001}
	if err := Run(context.Background(), opts, []string{"seed"}, func(*Result) error { return nil }); err != nil {
		t.Fatal(err)
	}
	r, err := newRunner(context.Background(), Options{DSN: srv.AdminDSN})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	var n int
	if err := r.admin.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_database WHERE datname LIKE 'routeops_bench_seed_%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d bench databases left behind", n)
	}
}

func TestExpand(t *testing.T) {
	all, err := Expand("all")
	if err != nil || len(all) != len(Scenarios) {
		t.Fatalf("all: %v %v", all, err)
	}
	got, err := Expand("throughput, poison")
	if err != nil || len(got) != 2 || got[0] != "throughput" || got[1] != "poison" {
		t.Fatalf("list: %v %v", got, err)
	}
	if _, err := Expand("throughput,nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown scenario accepted: %v", err)
	}
}

func TestWithDatabase(t *testing.T) {
	got, err := withDatabase("postgres://u:secret@127.0.0.1:5432/postgres?sslmode=disable", "routeops_bench_x_1")
	if err != nil || got != "postgres://u:secret@127.0.0.1:5432/routeops_bench_x_1?sslmode=disable" {
		t.Fatalf("url: %q %v", got, err)
	}
	got, err = withDatabase("host=127.0.0.1 port=5432 dbname=postgres user=u", "b")
	if err != nil || !strings.HasSuffix(got, " dbname=b") {
		t.Fatalf("keyword/value: %q %v", got, err)
	}
	if _, err := withDatabase("postgres://u:secret@[::1", "b"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("bad DSN: %v", err)
	}
}

func TestResultJSON(t *testing.T) {
	r := &Result{Scenario: "throughput", Scale: 1, FullScale: true, Items: 10, Seconds: 1.23456,
		Targets: []Target{{Figure: "ratio_vs_pgbench", Op: ">=", Value: 0.5}}}
	r.Set("items_per_second", 1000.0)
	r.Set("ratio_vs_pgbench", 0.25)
	r.Set("pgbench_items_per_second", nil)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.HasPrefix(s, `{"scenario":"throughput","items_per_second":1000,"ratio_vs_pgbench":0.25,"pgbench_items_per_second":null,"items":10,"seconds":1.235`) {
		t.Fatalf("order or values: %s", s)
	}
	if !strings.Contains(s, `"target_met":false`) || !strings.Contains(s, `"targets":{"ratio_vs_pgbench":"\u003e= 0.5"}`) {
		t.Fatalf("targets: %s", s)
	}
	r.Set("ratio_vs_pgbench", 0.6)
	if m := r.TargetMet(); m == nil || !*m {
		t.Fatalf("target not met at 0.6")
	}
	r.FullScale = false
	if r.TargetMet() != nil {
		t.Fatalf("judged a scaled run")
	}
	r.FullScale = true
	r.Targets = append(r.Targets, Target{Figure: "a", Op: "<=", Value: 5, Sum: []string{"b"}})
	r.Set("a", 3.0)
	r.Set("b", 3.0)
	if m := r.TargetMet(); m == nil || *m {
		t.Fatalf("sum target: 3+3 <= 5 judged met")
	}
}

func TestPgbenchScript(t *testing.T) {
	s := PgbenchScript(100)
	for _, want := range []string{`\set org random(1, 100)`, "FOR UPDATE SKIP LOCKED LIMIT 50", "state = 'assigned'", "assigned_at = now()",
		"ORDER BY priority DESC, enqueued_at, id"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if quantile(xs, 0.5) != 5 || quantile(xs, 0.99) != 10 || quantile(xs, 0) != 1 {
		t.Fatalf("quantiles: %v %v %v", quantile(xs, 0.5), quantile(xs, 0.99), quantile(xs, 0))
	}
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 2, 3}) != 2.5 {
		t.Fatal("median")
	}
}

// TestNoPgbench checks that a missing pgbench is reported, not fatal.
func TestNoPgbench(t *testing.T) {
	srv := pgtest.Shared(t)
	opts := Options{DSN: srv.AdminDSN, Orgs: 2, ItemsPerOrg: 10, Scale: 0.001, Pgbench: "/nonexistent/pgbench"}
	var res *Result
	if err := Run(context.Background(), opts, []string{"throughput"}, func(r *Result) error { res = r; return nil }); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["pgbench_items_per_second"] != nil || m["ratio_vs_pgbench"] != nil {
		t.Errorf("pgbench figures without pgbench: %v", m)
	}
	if s, _ := m["pgbench_error"].(string); !strings.Contains(s, "/nonexistent/pgbench") {
		t.Errorf("pgbench_error = %q", m["pgbench_error"])
	}
	if v, _ := m["items_per_second"].(float64); v <= 0 {
		t.Errorf("items_per_second = %v", m["items_per_second"])
	}
}
