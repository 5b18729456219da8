package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// explodingWriter panics on the first write, with the DSN (password
// included) in the panic value, the way a library that formats its
// configuration into a panic would.
type explodingWriter struct{ dsn string }

func (w explodingWriter) Write(p []byte) (int, error) {
	panic(fmt.Sprintf("writer exploded while printing for %s", w.dsn))
}

// TestCrashMessageRedacted injects a panic into a command (its standard
// output panics when written to) and checks that run recovers it, exits 2,
// prints "routeops crashed" with a stack, and never the DSN's password:
// main.go's recover redacts the crash message. The DSN comes once from
// --dsn and once from ROUTEOPS_DSN, as a URL and as keyword/value.
func TestCrashMessageRedacted(t *testing.T) {
	const secret = "hunter2secret"
	for _, dsn := range []string{
		"postgres://alice:" + secret + "@db.internal:5432/support",
		"host=db.internal user=alice password=" + secret + " dbname=support",
	} {
		for _, viaEnv := range []bool{false, true} {
			args := []string{"config"}
			if viaEnv {
				t.Setenv("ROUTEOPS_DSN", dsn)
			} else {
				t.Setenv("ROUTEOPS_DSN", "")
				args = append([]string{"--dsn", dsn}, args...)
			}
			t.Setenv("XDG_CONFIG_HOME", t.TempDir())
			t.Chdir(t.TempDir())
			var stderr bytes.Buffer
			code := run(context.Background(), args, strings.NewReader(""), explodingWriter{dsn: dsn}, &stderr)
			out := stderr.String()
			if code != exitFailed {
				t.Fatalf("exit %d after a crash, want %d:\n%s", code, exitFailed, out)
			}
			if !strings.Contains(out, "routeops crashed: ") || !strings.Contains(out, "writer exploded while printing for") || !strings.Contains(out, "goroutine") {
				t.Fatalf("no crash message with a stack:\n%s", out)
			}
			if strings.Contains(out, secret) {
				t.Fatalf("the crash message shows the password:\n%s", out)
			}
		}
	}
}
