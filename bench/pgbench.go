package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/routeops/routeops/router/pgstore"
)

// PgbenchBatch is the LIMIT of the yardstick statement.
const PgbenchBatch = pgstore.PgbenchBatch

// PgbenchScript is the yardstick for orgs orgs, a pgbench script: the
// simplest possible batch claim (pgstore.PgbenchScript).
func PgbenchScript(orgs int) string { return pgstore.PgbenchScript(orgs) }

// findPgbench returns the pgbench binary: the one given, PATH, pg_config
// --bindir, or the newest /usr/lib/postgresql/*/bin.
func findPgbench(given string) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("pgbench %s: %w", given, err)
		}
		return given, nil
	}
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "pgbench")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	sort.Strings(matches)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", errors.New("pgbench not found (not on PATH, not in pg_config --bindir, not under /usr/lib/postgresql/*/bin); install the PostgreSQL client tools")
}

type pgbenchRun struct {
	Transactions int
	TPS          float64
	Failed       int
	Output       string
}

var (
	tpsRe       = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	processedRe = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
	failedRe    = regexp.MustCompile(`number of failed transactions: (\d+)`)
)

// runPgbench runs the script with clients clients for txPerClient
// transactions each against dsn.
func runPgbench(ctx context.Context, bin, dsn, script string, clients, txPerClient int) (pgbenchRun, error) {
	var run pgbenchRun
	f, err := os.CreateTemp("", "routeops-bench-*.sql")
	if err != nil {
		return run, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		return run, err
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--no-vacuum", "--protocol=prepared",
		"--client", strconv.Itoa(clients), "--jobs", strconv.Itoa(clients),
		"--transactions", strconv.Itoa(txPerClient), "--file", f.Name(), dsn)
	// The Debian wrapper picks a cluster by these; a DSN names the server.
	cmd.Env = append(os.Environ(), "PGAPPNAME=routeops-bench-pgbench")
	out, err := cmd.CombinedOutput()
	run.Output = string(out)
	if err != nil {
		return run, fmt.Errorf("pgbench: %v: %s", err, lastLines(run.Output, 5))
	}
	m := tpsRe.FindStringSubmatch(run.Output)
	if m == nil {
		return run, fmt.Errorf("pgbench: no tps in its output: %s", lastLines(run.Output, 5))
	}
	run.TPS, _ = strconv.ParseFloat(m[1], 64)
	if m := processedRe.FindStringSubmatch(run.Output); m != nil {
		run.Transactions, _ = strconv.Atoi(m[1])
	}
	if m := failedRe.FindStringSubmatch(run.Output); m != nil {
		run.Failed, _ = strconv.Atoi(m[1])
	}
	return run, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
