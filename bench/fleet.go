package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/sim"
)

// ---- fleet ----

// fleetRuns is how many times each command of the fleet scenario is run
// (the median is reported, the largest memory).
const fleetRuns = 3

// fleet seeds 50,000 small orgs (10M items), then measures what an
// operator and Prometheus see of it: the monitor's snapshot, `status -o
// json` and the status table as processes of their own (time, bytes,
// peak RSS), and `serve --until-idle` draining the backlog (rate, the
// longest any org waited for its first assignment, peak RSS, and its
// /metrics scraped while it drains: series, bytes, time). The bare-table
// pgbench yardstick runs in the same scenario, after the drain.
func (s *scenario) fleet(ctx context.Context) error {
	r := s.res
	orgs, per := s.opts.orgs(50_000), s.opts.perOrg(200)
	r.Targets = []Target{
		{Figure: "seed_seconds", Op: "<=", Value: 300},
		{Figure: "status_json_ms", Op: "<=", Value: 1000},
		{Figure: "status_json_rss_mb", Op: "<=", Value: 150},
		{Figure: "metrics_series", Op: "<=", Value: 20_000},
		{Figure: "metrics_bytes", Op: "<=", Value: 3 << 20},
		{Figure: "serve_rss_mb", Op: "<=", Value: 200},
		{Figure: "first_assignment_max_seconds", Op: "<=", Value: 10},
		{Figure: "ratio_vs_pgbench_bare", Op: ">=", Value: 0.8},
	}
	db, st, err := s.newStore(ctx, 0)
	if err != nil {
		return err
	}
	// Two agents per org with room for every item: the drain is limited by
	// routing, not by capacity.
	spec := sim.SeedSpec{Orgs: orgs, QueuesPerOrg: 2, AgentsPerOrg: 2, Capacity: per, ItemsPerOrg: per, Seed: 1, Now: now()}
	s.checkpoint(ctx)
	seeded, seedSecs, err := s.seedStore(ctx, st, spec)
	if err != nil {
		return err
	}
	r.Set("orgs", orgs)
	r.Set("items_per_org", per)
	r.Set("items", seeded.Items)
	r.Set("seed_seconds", seedSecs)
	r.Set("seed_items_per_second", float64(seeded.Items)/seedSecs)
	if err := s.vacuum(ctx, db); err != nil {
		r.Note("VACUUM after seeding failed: %v", err)
	}
	if err := s.fleetSnapshot(ctx, st); err != nil {
		return err
	}
	if s.opts.Binary == "" {
		r.Note("no routeops binary (Options.Binary): status, serve and metrics figures not measured")
		return nil
	}
	cfg, err := emptyConfig()
	if err != nil {
		return err
	}
	defer os.Remove(cfg)
	if err := s.fleetStatus(ctx, db, cfg); err != nil {
		return err
	}
	s.closeStore(st)
	rate, err := s.fleetServe(ctx, db, cfg, seeded.Items)
	if err != nil {
		return err
	}
	r.Items = seeded.Items
	s.settle(ctx, db)
	bin, err := findPgbench(s.opts.Pgbench)
	if err == nil {
		err = s.bareYardstick(ctx, bin, orgs, per, rate)
	}
	if err != nil {
		r.Set("pgbench_bare_error", err.Error())
		r.Note("no bare-table pgbench yardstick: %v", err)
	}
	r.Note("status figures are the median (time, bytes) and the largest (RSS) of %d runs of the binary against the seeded backlog; metrics figures the largest (series, bytes) and the median (time) of the scrapes taken every 2 s while serve drains", fleetRuns)
	return nil
}

// fleetSnapshot times the monitor's snapshot in this process.
func (s *scenario) fleetSnapshot(ctx context.Context, st router.Store) error {
	mon := ops.NewMonitor(st, router.RealClock{}, ops.DefaultSettings(), actor, nil)
	if _, err := mon.Snapshot(ctx, ""); err != nil { // warm-up
		return err
	}
	var xs []float64
	var snap *ops.Snapshot
	for range max(s.opts.SnapshotRuns, fleetRuns) {
		t0 := time.Now()
		var err error
		if snap, err = mon.Snapshot(ctx, ""); err != nil {
			return err
		}
		xs = append(xs, ms(time.Since(t0)))
	}
	queues := 0
	for i := range snap.Orgs {
		queues += len(snap.Orgs[i].Queues)
	}
	s.res.Set("snapshot_ms", median(xs))
	s.res.Set("queues", queues)
	s.res.Set("orgs_not_ok", len(snap.Orgs)-countOK(snap))
	return nil
}

func countOK(snap *ops.Snapshot) int {
	n := 0
	for i := range snap.Orgs {
		if snap.Orgs[i].Health == ops.HealthOK {
			n++
		}
	}
	return n
}

// fleetStatus runs `status -o json` and the status table fleetRuns times
// each.
func (s *scenario) fleetStatus(ctx context.Context, db database, cfg string) error {
	for _, c := range []struct {
		name string
		args []string
	}{{"status_json", []string{"status", "-o", "json"}}, {"status_table", []string{"status"}}} {
		var secs, size []float64
		var rss float64
		for range fleetRuns {
			p, err := s.runSelf(ctx, db, cfg, c.args...)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			secs, size = append(secs, p.secs*1000), append(size, float64(p.bytes))
			rss = max(rss, p.rssMB)
		}
		s.res.Set(c.name+"_ms", median(secs))
		s.res.Set(c.name+"_bytes", median(size))
		s.res.Set(c.name+"_rss_mb", rss)
	}
	return nil
}

// procRun is one run of the routeops binary.
type procRun struct {
	secs  float64
	bytes int64
	rssMB float64
}

// runSelf runs the routeops binary on db with an empty config file and
// counts what it writes to standard output.
func (s *scenario) runSelf(ctx context.Context, db database, cfg string, args ...string) (procRun, error) {
	var out countWriter
	var errb bytes.Buffer
	cmd := exec.CommandContext(ctx, s.opts.Binary, append(args, "--config", cfg, "--dsn", db.dsn, "--color", "never")...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return procRun{}, err
	}
	hwm := watchHWM(cmd.Process.Pid, 5*time.Millisecond)
	err := cmd.Wait()
	p := procRun{secs: secondsSince(t0), bytes: out.n, rssMB: hwm()}
	if err != nil {
		// status exits 1 or 2 for a fleet that is not ok: that is an answer.
		var ee *exec.ExitError
		if !(asExit(err, &ee) && ee.ExitCode() <= 2 && out.n > 0) {
			return p, fmt.Errorf("%v: %s", err, bytes.TrimSpace(errb.Bytes()))
		}
	}
	return p, nil
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

// watchHWM reads a running process's peak resident set (VmHWM in
// /proc/PID/status) every interval; the function it returns stops the
// watch and gives the last peak read, in MB. (The rusage of a child is no
// use here: a child forked from this process inherits its peak.)
func watchHWM(pid int, every time.Duration) func() float64 {
	var mu sync.Mutex
	var peak float64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		path := fmt.Sprintf("/proc/%d/status", pid)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if kb, ok := statusKB(path, "VmHWM:"); ok {
				mu.Lock()
				peak = max(peak, float64(kb)/1024)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() float64 {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// statusKB reads one "Key: N kB" line of a /proc status file.
func statusKB(path, key string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(key)); ok {
			f := bytes.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(string(f[0]), 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// emptyConfig writes a config file with nothing in it, so that the
// binary's runs take the defaults whatever ./routeops.yaml says.
func emptyConfig() (string, error) {
	f, err := os.CreateTemp("", "routeops-bench-*.yaml")
	if err != nil {
		return "", err
	}
	defer f.Close()
	_, err = f.WriteString("# routeops bench: defaults only\n")
	return f.Name(), err
}

// scrape is one /metrics scrape.
type scrape struct {
	ms            float64
	bytes, series int
}

// fleetServe runs `serve --until-idle` on the backlog, scraping its
// /metrics every 2 s, and returns the drain rate (items assigned per
// second of the process's life).
func (s *scenario) fleetServe(ctx context.Context, db database, cfg string, items int) (float64, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	logf := filepath.Join(os.TempDir(), fmt.Sprintf("routeops-bench-fleet-%d.log", os.Getpid()))
	defer os.Remove(logf)
	cmd := exec.CommandContext(ctx, s.opts.Binary, "serve", "--until-idle", "--metrics-addr", addr,
		"--workers", strconv.Itoa(s.opts.Workers), "--batch-size", strconv.Itoa(s.opts.BatchSize),
		"--config", cfg, "--dsn", db.dsn, "--log-file", logf)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	s.checkpoint(ctx)
	s.log.Info("serving until idle", "scenario", s.name, "items", items, "metrics", addr)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	hwm := watchHWM(cmd.Process.Pid, 100*time.Millisecond)
	stop := make(chan struct{})
	var scrapes []scrape
	var wg sync.WaitGroup
	wg.Go(func() { scrapes = scrapeEvery(addr, 2*time.Second, stop) })
	err = cmd.Wait()
	secs := secondsSince(start)
	rss := hwm()
	close(stop)
	wg.Wait()
	if err != nil {
		return 0, fmt.Errorf("serve --until-idle: %w (log: %s)", err, tail(logf))
	}
	var assigned int
	var first time.Time
	err = withConn(ctx, db, func(conn *pgx.Conn) error {
		var err error
		if assigned, err = pgstore.CountAssigned(ctx, conn); err != nil {
			return err
		}
		first, err = pgstore.LatestFirstAssignment(ctx, conn)
		return err
	})
	if err != nil {
		return 0, err
	}
	rate := float64(assigned) / secs
	r := s.res
	r.Seconds = secs
	r.Set("serve_seconds", secs)
	r.Set("items_per_second", rate)
	r.Set("assigned", assigned)
	r.Set("serve_rss_mb", rss)
	if !first.IsZero() {
		r.Set("first_assignment_max_seconds", first.Sub(start).Seconds())
	}
	r.Set("metrics_scrapes", len(scrapes))
	if len(scrapes) > 0 {
		var tms []float64
		var series, size int
		for _, sc := range scrapes {
			tms = append(tms, sc.ms)
			series, size = max(series, sc.series), max(size, sc.bytes)
		}
		r.Set("metrics_series", series)
		r.Set("metrics_bytes", size)
		r.Set("metrics_scrape_ms", median(tms))
		r.Set("metrics_scrape_ms_max", slices.Max(tms))
	}
	if assigned != items {
		r.Note("serve assigned %d of %d items", assigned, items)
	}
	return rate, nil
}

// scrapeEvery scrapes addr's /metrics every interval until stop closes.
// Failed scrapes (the server not up yet, or gone) are not counted.
func scrapeEvery(addr string, every time.Duration, stop <-chan struct{}) []scrape {
	client := &http.Client{Timeout: 30 * time.Second}
	var out []scrape
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return out
		case <-t.C:
		}
		t0 := time.Now()
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		sc, err := countSeries(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK {
			sc.ms = ms(time.Since(t0))
			out = append(out, sc)
		}
	}
}

// countSeries reads an exposition: its size, and its series (the lines
// that are not comments).
func countSeries(r io.Reader) (scrape, error) {
	var sc scrape
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		sc.bytes += len(line)
		if len(bytes.TrimSpace(line)) > 0 && line[0] != '#' {
			sc.series++
		}
		if err == io.EOF {
			return sc, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return sc, err
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tail is the end of a log file, for an error.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}
