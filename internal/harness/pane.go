package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Pane is routeops running under a real pseudo-terminal: a detached tmux
// session on a private tmux server (its own socket), as an operator on a
// bastion host would run it. Keys are typed one at a time at a person's
// pace, and the screen is read while the program runs.
type Pane struct {
	t        testing.TB
	sock     string
	exitFile string
}

// paneSession names the tmux session on each pane's private server.
const paneSession = "routeops"

// ShQuote quotes s for sh.
func ShQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// StartPane runs routeops args in a cols x rows tmux pane with exactly the
// Bin's environment plus TERM from tmux, under wrapper when it is not empty
// (such as /usr/bin/time -o FILE), and records the exit status in a file
// when it ends: sh -c 'routeops ...; echo EXIT=$? > file'.
func StartPane(t testing.TB, b *Bin, cols, rows int, wrapper []string, args ...string) *Pane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is needed for the console tests: %v", err)
	}
	// A short directory: the socket path must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "rot")
	if err != nil {
		t.Fatal(err)
	}
	p := &Pane{t: t, sock: filepath.Join(dir, "s"), exitFile: filepath.Join(dir, "exit")}
	var cmd strings.Builder
	cmd.WriteString("cd " + ShQuote(b.Dir()) + " || exit 99\nenv -i")
	for _, kv := range b.Environ() {
		cmd.WriteString(" " + ShQuote(kv))
	}
	cmd.WriteString(` TERM="$TERM"`)
	for _, w := range wrapper {
		cmd.WriteString(" " + ShQuote(w))
	}
	cmd.WriteString(" " + ShQuote(b.Path()))
	for _, a := range args {
		cmd.WriteString(" " + ShQuote(a))
	}
	cmd.WriteString("\necho \"EXIT=$?\" > " + ShQuote(p.exitFile) + "\n")
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte(cmd.String()), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Our own server, by its socket: ends the session if still there.
		_ = exec.Command("tmux", "-S", p.sock, "kill-server").Run()
		_ = os.RemoveAll(dir)
	})
	p.Tmux("new-session", "-d", "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows), "-s", paneSession, "sh "+ShQuote(script))
	return p
}

// Tmux runs a tmux command on the pane's server, failing the test if it
// fails.
func (p *Pane) Tmux(args ...string) string {
	p.t.Helper()
	out, err := p.try(args...)
	if err != nil {
		p.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (p *Pane) try(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-S", p.sock, "-f", os.DevNull}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Dir(p.sock), "TERM=xterm-256color", "LANG=C.UTF-8"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Screen is the pane's text; with escapes it keeps the escape sequences.
func (p *Pane) Screen(escapes bool) string {
	args := []string{"capture-pane", "-p", "-t", paneSession}
	if escapes {
		args = append(args, "-e")
	}
	out, err := p.try(args...)
	if err != nil {
		return ""
	}
	return out
}

// WaitFor polls the screen until ok accepts it and returns that screen,
// failing after deadline.
func (p *Pane) WaitFor(what string, deadline time.Duration, ok func(screen string) bool) string {
	p.t.Helper()
	var s string
	took, found := Poll(deadline, 150*time.Millisecond, func() bool {
		s = p.Screen(false)
		return ok(s)
	})
	if !found {
		p.t.Fatalf("the console did not show %s within %s. Screen:\n%s", what, took.Round(time.Millisecond), s)
	}
	return s
}

// Key types one key: a tmux key name such as Escape, or a literal rune.
func (p *Pane) Key(k string) {
	p.t.Helper()
	if utf8.RuneCountInString(k) == 1 {
		p.Tmux("send-keys", "-t", paneSession, "-l", k)
	} else {
		p.Tmux("send-keys", "-t", paneSession, k)
	}
	time.Sleep(100 * time.Millisecond) // a person's pace between keys; correctness never rests on it
}

// Resize changes the pane's size, as a person resizing the window does.
func (p *Pane) Resize(cols, rows int) {
	p.t.Helper()
	p.Tmux("resize-window", "-t", paneSession, "-x", strconv.Itoa(cols), "-y", strconv.Itoa(rows))
}

// ExitCode waits for the program to end and returns its exit status.
func (p *Pane) ExitCode(deadline time.Duration) int {
	p.t.Helper()
	var b []byte
	if _, ok := Poll(deadline, 100*time.Millisecond, func() bool {
		var err error
		b, err = os.ReadFile(p.exitFile)
		return err == nil && strings.HasSuffix(string(b), "\n")
	}); !ok {
		p.t.Fatalf("the console did not exit within %s. Screen:\n%s", deadline, p.Screen(false))
	}
	code, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(b), "EXIT=")))
	if err != nil {
		p.t.Fatalf("exit file says %q", b)
	}
	return code
}

// Title is the pane's title, as the terminal's escape sequences set it.
func (p *Pane) Title() string {
	p.t.Helper()
	return p.Tmux("display-message", "-p", "-t", paneSession, "#{pane_title}")
}

// Buffers lists the tmux paste buffers, where a program's OSC 52
// clipboard writes land: empty when there are none.
func (p *Pane) Buffers() string {
	out, err := p.try("list-buffers")
	if err != nil {
		return ""
	}
	return out
}

// Capture is the pane's text, and false once the session has ended (the
// program exited).
func (p *Pane) Capture() (string, bool) {
	out, err := p.try("capture-pane", "-p", "-t", paneSession)
	return out, err == nil
}
