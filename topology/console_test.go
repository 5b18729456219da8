package topology

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
)

// pane is routeops under a real pseudo-terminal: a detached session of a
// private tmux server, as an operator on a bastion host runs it.
type pane struct {
	t        *testing.T
	sock     string
	exitFile string
}

const session = "topology"

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func startPane(t *testing.T, c *harness.Bin, cols, rows int, args ...string) *pane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is needed for the console tests: %v", err)
	}
	dir, err := os.MkdirTemp("", "rot") // short: a socket path fits in 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	p := &pane{t: t, sock: filepath.Join(dir, "s"), exitFile: filepath.Join(dir, "exit")}
	var cmd strings.Builder
	cmd.WriteString("cd " + shQuote(c.Dir()) + " || exit 99\nenv -i")
	for _, kv := range c.Environ() {
		cmd.WriteString(" " + shQuote(kv))
	}
	cmd.WriteString(` TERM="$TERM" ` + shQuote(c.Path()))
	for _, a := range args {
		cmd.WriteString(" " + shQuote(a))
	}
	cmd.WriteString("\necho \"EXIT=$?\" > " + shQuote(p.exitFile) + "\n")
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte(cmd.String()), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
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

func (p *pane) screen() string {
	out, err := p.try("capture-pane", "-p", "-t", session)
	if err != nil {
		return ""
	}
	return out
}

// waitFor polls the screen until ok accepts it.
func (p *pane) waitFor(what string, deadline time.Duration, ok func(screen string) bool) string {
	p.t.Helper()
	var s string
	if _, found := harness.Poll(deadline, 150*time.Millisecond, func() bool { s = p.screen(); return ok(s) }); !found {
		p.t.Fatalf("the console did not show %s within %s. Screen:\n%s", what, deadline, s)
	}
	return s
}

// quit presses q and waits for the exit status.
func (p *pane) quit() int {
	p.t.Helper()
	p.tmux("send-keys", "-t", session, "-l", "q")
	var b []byte
	if _, ok := harness.Poll(30*time.Second, 100*time.Millisecond, func() bool {
		var err error
		b, err = os.ReadFile(p.exitFile)
		return err == nil && strings.HasSuffix(string(b), "\n")
	}); !ok {
		p.t.Fatalf("the console did not exit. Screen:\n%s", p.screen())
	}
	code, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(b), "EXIT=")))
	if err != nil {
		p.t.Fatalf("exit file says %q", b)
	}
	return code
}
