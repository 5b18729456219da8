package topology

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// stop sends SIGINT, as a service manager or ^C does, and waits.
func stop(p *harness.Proc) harness.Result {
	p.Interrupt()
	return p.Wait(60 * time.Second)
}

// scrape fetches /metrics.
func scrape(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// status is the part of status -o json that these tests read.
type status struct {
	Store   string `json:"store"`
	Summary struct {
		Orgs              int      `json:"orgs"`
		Queued            int      `json:"queued"`
		Assigned          int      `json:"assigned"`
		Health            string   `json:"health"`
		ReplicaLagSeconds *float64 `json:"replica_lag_seconds"`
	} `json:"summary"`
	Engine struct {
		State   string `json:"state"`
		Engines int    `json:"engines"`
		Polling int    `json:"polling"`
	} `json:"engine"`
	Database *struct {
		Store             string   `json:"store"`
		Reads             string   `json:"reads"`
		Pooler            string   `json:"pooler"`
		Standby           bool     `json:"standby"`
		Viewer            bool     `json:"viewer"`
		ReplicaLagSeconds *float64 `json:"replica_lag_seconds"`
		Health            string   `json:"health"`
		Reason            string   `json:"reason"`
	} `json:"database"`
}

// hostOf is host:port of a URL DSN.
func hostOf(t *testing.T, dsn string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(dsn, "postgres://")
	if !ok {
		t.Fatalf("not a postgres:// URL: %s", dsn)
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// dbName is the database of a URL DSN.
func dbName(dsn string) string {
	rest := dsn[strings.LastIndexByte(dsn, '/')+1:]
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
