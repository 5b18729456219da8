package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"charm.land/bubbles/v2/progress"
	"github.com/charmbracelet/colorprofile"

	"github.com/routeops/routeops/ops/present"
)

// progressBar shows long work on standard error: a bar, done/total, the
// rate and the time left, redrawn in place at most ten times a second. It
// draws only when standard error is a terminal and the output is not
// JSON; otherwise every call is a no-op, so that scripts and pipes see
// nothing of it.
type progressBar struct {
	mu      sync.Mutex
	w       io.Writer
	bar     progress.Model
	label   string
	unit    string
	start   time.Time
	drawn   time.Time
	visible bool
}

// newProgress returns a bar for label ("quarantine", "seed"…) counting
// unit ("items", "revisions"), or a silent one.
func (a *app) newProgress(label, unit string) *progressBar {
	p := &progressBar{label: label, unit: unit, start: time.Now()}
	if !isTerminal(a.stderr) || a.output("table") == "json" {
		return p
	}
	w := colorprofile.NewWriter(a.stderr, os.Environ())
	switch a.cfg.Console.Color {
	case "never":
		w.Profile = colorprofile.ASCII
	case "always":
		w.Profile = max(w.Profile, colorprofile.ANSI)
	}
	p.w = w
	p.bar = progress.New(progress.WithWidth(30), progress.WithoutPercentage())
	return p
}

// enabled reports whether the bar draws anything.
func (p *progressBar) enabled() bool { return p != nil && p.w != nil }

// update redraws the bar; callers may call it as often as they like.
func (p *progressBar) update(done, total int) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if done < total && now.Sub(p.drawn) < 100*time.Millisecond {
		return
	}
	p.drawn, p.visible = now, true
	frac := 0.0
	if total > 0 {
		frac = float64(min(done, total)) / float64(total)
	}
	elapsed := now.Sub(p.start)
	rate := float64(done) / max(elapsed.Seconds(), 0.001)
	left := "?"
	if rate > 0 && total >= done {
		left = present.Duration(time.Duration(float64(total-done) / rate * float64(time.Second)))
	}
	fmt.Fprintf(p.w, "\r\x1b[2K%s %s %s/%s %s  %s/s  %s left", p.label, p.bar.ViewAs(frac), present.Count(done),
		present.Count(total), p.unit, present.Count(int(rate)), left)
}

// finish clears the bar's line.
func (p *progressBar) finish() {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.visible {
		fmt.Fprint(p.w, "\r\x1b[2K")
		p.visible = false
	}
}
