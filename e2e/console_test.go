package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// pane is routeops running under a real pseudo-terminal: a detached tmux
// session on a private tmux server (its own socket), as an operator on a
// bastion host would run it.
type pane struct {
	t        *testing.T
	sock     string
	exitFile string
}

const session = "e2e"

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// startPane runs routeops args in a cols x rows tmux pane with exactly the
// cli's environment plus TERM from tmux, and records its exit status in a
// file when it ends: sh -c 'routeops ...; echo EXIT=$? > file'.
func startPane(t *testing.T, c *harness.Bin, cols, rows int, args ...string) *pane {
	t.Helper()
	return startPaneUnder(t, c, cols, rows, nil, args...)
}

// startPaneUnder is startPane with routeops run under a wrapper command
// (such as /usr/bin/time -o FILE).
func startPaneUnder(t *testing.T, c *harness.Bin, cols, rows int, wrapper []string, args ...string) *pane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is needed for the console tests: %v", err)
	}
	// A short directory: the socket path must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "rot")
	if err != nil {
		t.Fatal(err)
	}
	p := &pane{t: t, sock: filepath.Join(dir, "s"), exitFile: filepath.Join(dir, "exit")}
	env := c.Environ()
	var cmd strings.Builder
	cmd.WriteString("cd " + shQuote(c.Dir()) + " || exit 99\nenv -i")
	for _, kv := range env {
		cmd.WriteString(" " + shQuote(kv))
	}
	cmd.WriteString(` TERM="$TERM"`)
	for _, w := range wrapper {
		cmd.WriteString(" " + shQuote(w))
	}
	cmd.WriteString(" " + shQuote(c.Path()))
	for _, a := range args {
		cmd.WriteString(" " + shQuote(a))
	}
	cmd.WriteString("\necho \"EXIT=$?\" > " + shQuote(p.exitFile) + "\n")
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte(cmd.String()), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Our own server, by its socket: ends the session if still there.
		_ = exec.Command("tmux", "-S", p.sock, "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
	p.tmux("new-session", "-d", "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows), "-s", session, "sh "+shQuote(script))
	return p
}

func (p *pane) tmux(args ...string) string {
	p.t.Helper()
	out, err := p.try(args...)
	if err != nil {
		p.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (p *pane) try(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-S", p.sock, "-f", os.DevNull}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Dir(p.sock), "TERM=xterm-256color", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// screen is the pane's text; escapes keeps the escape sequences.
func (p *pane) screen(escapes bool) string {
	args := []string{"capture-pane", "-p", "-t", session}
	if escapes {
		args = append(args, "-e")
	}
	out, err := p.try(args...)
	if err != nil {
		return ""
	}
	return out
}

// waitFor polls the screen until ok accepts it, failing after deadline.
func (p *pane) waitFor(what string, deadline time.Duration, ok func(screen string) bool) string {
	p.t.Helper()
	var s string
	took, found := harness.Poll(deadline, 150*time.Millisecond, func() bool {
		s = p.screen(false)
		return ok(s)
	})
	if !found {
		p.t.Fatalf("the console did not show %s within %s. Screen:\n%s", what, took.Round(time.Millisecond), s)
	}
	return s
}

// key types one key (a tmux key name such as Escape, or a literal rune).
func (p *pane) key(k string) {
	p.t.Helper()
	if utf8.RuneCountInString(k) == 1 {
		p.tmux("send-keys", "-t", session, "-l", k)
	} else {
		p.tmux("send-keys", "-t", session, k)
	}
	time.Sleep(100 * time.Millisecond) // a human's pace between keys; correctness never rests on it
}

// exitCode waits for the program to end and returns its exit status.
func (p *pane) exitCode(deadline time.Duration) int {
	p.t.Helper()
	var b []byte
	if _, ok := harness.Poll(deadline, 100*time.Millisecond, func() bool {
		var err error
		b, err = os.ReadFile(p.exitFile)
		return err == nil && strings.HasSuffix(string(b), "\n")
	}); !ok {
		p.t.Fatalf("the console did not exit within %s. Screen:\n%s", deadline, p.screen(false))
	}
	code, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(b), "EXIT=")))
	if err != nil {
		p.t.Fatalf("exit file says %q", b)
	}
	return code
}

// colourSGR lists the colour parameters (foreground, background, 256 and
// true colour) in the screen's SGR escape sequences.
func colourSGR(screen string) []string {
	var found []string
	for _, m := range regexp.MustCompile("\x1b\\[([0-9;:]*)m").FindAllStringSubmatch(screen, -1) {
		for _, f := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ';' || r == ':' }) {
			n, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			if (n >= 30 && n <= 38) || (n >= 40 && n <= 48) || (n >= 90 && n <= 97) || (n >= 100 && n <= 107) {
				found = append(found, fmt.Sprintf("%q", m[0]))
				break
			}
		}
	}
	sort.Strings(found)
	return found
}

// Acceptance "Real database": `routeops console --dsn …` on a
// seeded PostgreSQL shows its orgs, shows the DSN redacted in its header
// (never the password), adapts to a resize, and q exits 0.
func TestConsoleOnSeededDatabase(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, "")
	const pw = "e2e-console-pw"
	dsnPW := withPassword(t, dsn, pw)
	c.WithDSN(dsnPW).Must("seed", "--orgs", "12", "--items-per-org", "10")

	p := startPane(t, c, 80, 24, "console", "--dsn", dsnPW)
	s := p.waitFor("the seeded orgs org-0001 to org-0012", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "org-0001") && strings.Contains(s, "org-0012")
	})
	// At 80 columns the header truncates the store (the redacted DSN) to
	// its first characters; the password must not show in any case.
	if !strings.HasPrefix(s, "routeops") || !strings.Contains(strings.SplitN(s, "\n", 2)[0], "postgre") || strings.Contains(s, pw) {
		t.Errorf("the header should name the store (the redacted DSN, no password). Screen:\n%s", s)
	}
	t.Logf("header at 80 columns: %s", strings.SplitN(s, "\n", 2)[0])
	// Wider, the header has room for the whole redacted DSN.
	p.tmux("resize-window", "-t", session, "-x", "160", "-y", "40")
	want := redactedDSN(t, dsn)
	s = p.waitFor("the redacted DSN "+want+" in the header", 30*time.Second, func(s string) bool {
		return strings.Contains(strings.SplitN(s, "\n", 2)[0], want)
	})
	if strings.Contains(s, pw) || strings.Contains(p.screen(true), pw) {
		t.Errorf("the console shows the DSN's password. Screen:\n%s", s)
	}
	p.key("q")
	if code := p.exitCode(30 * time.Second); code != 0 {
		t.Errorf("q: the console exited %d, want 0", code)
	}
}

// Acceptance "Read-only at 80x24": NO_COLOR=1 routeops demo
// --read-only at 80x24 shows no colour, no line wider than 80, and a
// visible READ-ONLY badge; q exits 0.
func TestConsoleDemoReadOnlyNoColor(t *testing.T) {
	c := harness.New(t, "").With("NO_COLOR=1", "COLORTERM=truecolor")
	p := startPane(t, c, 80, 24, "demo", "--read-only")
	s := p.waitFor("the demo's orgs and a READ-ONLY badge", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "org-0001") && strings.Contains(s, "READ-ONLY")
	})
	for i, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("line %d is %d runes wide (> 80): %q", i+1, n, line)
		}
	}
	if rows := strings.Count(s, "\n"); rows > 24 {
		t.Errorf("the screen has %d rows (> 24)", rows)
	}
	if found := colourSGR(p.screen(true)); len(found) > 0 {
		t.Errorf("NO_COLOR=1, yet the screen has colour SGR sequences: %v", found)
	}
	p.key("?")
	s = p.waitFor("the help", 30*time.Second, func(s string) bool { return strings.Contains(s, "Keys") })
	if found := colourSGR(p.screen(true)); len(found) > 0 {
		t.Errorf("NO_COLOR=1, yet the help has colour SGR sequences: %v", found)
	}
	if !strings.Contains(s, "READ-ONLY") {
		t.Errorf("the READ-ONLY badge is gone in the help. Screen:\n%s", s)
	}
	p.key("Escape")
	p.waitFor("the fleet again", 30*time.Second, func(s string) bool { return !strings.Contains(s, "Keys") })
	p.key("q")
	if code := p.exitCode(30 * time.Second); code != 0 {
		t.Errorf("q: the demo exited %d, want 0", code)
	}
}

// Acceptance "Actions reachable" and "Clean exit": in the demo,
// ? lists quarantine and repair, and q exits 0.
func TestConsoleDemoHelpListsActions(t *testing.T) {
	c := harness.New(t, "").With("COLORTERM=truecolor")
	p := startPane(t, c, 80, 24, "demo")
	p.waitFor("the demo's orgs", 60*time.Second, func(s string) bool { return strings.Contains(s, "org-0001") })
	// The control for the NO_COLOR test: without NO_COLOR there is colour.
	t.Logf("without NO_COLOR the screen has %d colour SGR sequences", len(colourSGR(p.screen(true))))
	p.key("?")
	s := p.waitFor("the help listing quarantine and repair", 30*time.Second, func(s string) bool {
		i := strings.Index(s, "Keys")
		return i >= 0 && strings.Contains(s[i:], "quarantine") && strings.Contains(s[i:], "repair")
	})
	for _, want := range []string{"x quarantine item", "R repair"} {
		if !strings.Contains(s, want) {
			t.Errorf("the help does not list %q. Screen:\n%s", want, s)
		}
	}
	p.key("Escape")
	p.waitFor("the fleet again", 30*time.Second, func(s string) bool { return !strings.Contains(s, "Keys") })
	p.key("q")
	if code := p.exitCode(30 * time.Second); code != 0 {
		t.Errorf("q: the demo exited %d, want 0", code)
	}
}
