package e2e

import (
	"fmt"
	"net/url"
	"sort"
	"testing"

	"github.com/routeops/routeops/internal/harness"
)

// The binary, its environment, processes and results are internal/harness;
// raw SQL on the test databases is router/pgstore/pgtest's DB.

func TestMain(m *testing.M) { harness.Main(m) }

// withPassword returns dsn with a password added. The test server trusts
// local connections, so the password is never checked: it is only there
// to prove that it never shows.
func withPassword(t *testing.T, dsn, pw string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String()
}

// redactedDSN is how routeops shows dsn: postgres://user@host:port/db.
func redactedDSN(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	return fmt.Sprintf("postgres://%s@%s%s", u.User.Username(), u.Host, u.Path)
}

func idSet(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func sameIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := idSet(a), idSet(b)
	if len(sa) != len(sb) {
		return false
	}
	for id := range sa {
		if !sb[id] {
			return false
		}
	}
	return true
}

func sortedIDs(m map[int64]bool) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
