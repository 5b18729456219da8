package main

import "testing"

// Each command gets the soft memory limit of its kind, wherever the global
// flags stand on the command line.
func TestMemLimitByCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int64
	}{
		{[]string{"status", "-o", "json"}, oneShotMemLimit},
		{[]string{"--dsn", "postgres://x/y", "status"}, oneShotMemLimit},
		{[]string{"check", "--org", "o1"}, oneShotMemLimit},
		{[]string{"--dsn", "postgres://x/y", "serve", "--metrics-addr", ":9"}, watchMemLimit},
		{[]string{"console", "--no-engine"}, watchMemLimit},
		{[]string{"seed", "--orgs", "5"}, defaultMemLimit},
		{[]string{"no-such-command"}, defaultMemLimit},
		{nil, defaultMemLimit},
	} {
		if got := memLimit(commandName(c.args)); got != c.want {
			t.Errorf("%q: limit %d MiB, want %d MiB", c.args, got>>20, c.want>>20)
		}
	}
}
