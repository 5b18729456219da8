// Package tui is the routeops console: a Bubble Tea program that renders
// the monitor's snapshot (ops.Snapshot) and calls ops for every action,
// the same calls as the CLI. It never talks to a store directly and runs
// every query in a tea.Cmd, so an unreachable database never freezes it.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// Options configure the console.
type Options struct {
	Ops      *ops.Ops      // with Ops.Monitor set
	Refresh  time.Duration // snapshot interval
	Store    string        // header: redacted DSN or "embedded demo"
	Engine   EngineInfo    // header: in-process engine state
	Operator string
	ReadOnly bool
	Color    string // "auto"|"always"|"never"; NO_COLOR also disables colour
	Demo     bool   // drill key enabled
	Incident *IncidentPlan
	// Record uses Monitor.Observe (which records stall events) instead of
	// Monitor.Snapshot.
	Record bool
	Input  io.Reader // nil: os.Stdin
	Output io.Writer // nil: os.Stdout
	Clock  router.Clock
}

// EngineInfo describes the in-process engine for the header.
type EngineInfo struct {
	Running bool // false: "engine off (--no-engine)"
	Policy  router.FaultPolicy
	Stats   func() router.EngineStats
}

// IncidentPlan is demo --incident: the drill is injected through ops.Drill
// after Delay, and its result shown in the status line.
type IncidentPlan struct {
	Org   string
	Count int
	Kind  string
	Delay time.Duration
}

const (
	minWidth       = 60
	minHeight      = 15
	defaultRefresh = 2 * time.Second
	fps            = 15
)

// New builds the root model. Run starts it in a program; tests drive it
// with Update directly or through teatest.
func New(opts Options) Model {
	if opts.Refresh <= 0 {
		opts.Refresh = defaultRefresh
	}
	clock := opts.Clock
	if clock == nil {
		clock = router.RealClock{}
	}
	if opts.Operator == "" && opts.Ops != nil {
		opts.Operator = opts.Ops.Actor.Name
	}
	if opts.Incident != nil {
		inc := *opts.Incident
		if inc.Kind == "" {
			inc.Kind = ops.DrillMissingRevisions
		}
		if inc.Count <= 0 {
			inc.Count = 1
		}
		opts.Incident = &inc
	}
	m := Model{shared: shared{
		opts:  opts,
		ctx:   context.Background(),
		clock: clock,
		keys:  newKeyMap(),
		help:  help.New(),
		st:    newStyles(colorWanted(opts.Color, nil)),
		// Init's first refresh is in flight from the start.
		feed: feed{trends: map[string]*trend{}, fetching: true, fetchSince: clock.Now()},
	}}
	m.help.Styles = m.st.helpStyles()
	m.org.state = router.StateQueued
	if m.readOnly() {
		m.setStatus(statusInfo, "read-only mode: actions are refused")
	}
	if inc := opts.Incident; inc != nil && inc.Delay > 0 {
		org := inc.Org
		if org == "" {
			org = "the busiest org"
		}
		m.setStatus(statusInfo, fmt.Sprintf("incident: %s drill on %s in %s", inc.Kind, org, present.Duration(inc.Delay)))
	}
	return m
}

// Run runs the console until q or ctrl+c (which return nil) or ctx ends.
func Run(ctx context.Context, opts Options) error {
	m := New(opts)
	m.ctx = ctx
	out := opts.Output
	if out == nil {
		out = os.Stdout
	}
	popts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithFPS(fps), tea.WithOutput(out)}
	if opts.Input != nil {
		popts = append(popts, tea.WithInput(opts.Input))
	}
	if p, ok := colorProfile(opts.Color, m.st.color, func() colorprofile.Profile {
		return colorprofile.Detect(out, os.Environ())
	}); ok {
		popts = append(popts, tea.WithColorProfile(p))
	}
	_, err := tea.NewProgram(m, popts...).Run()
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted):
		return nil
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		return nil
	}
	return err
}

// Init starts the first refresh, the refresh tick and the incident timer.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.fetchSnapshot(), tickCmd(m.opts.Refresh)}
	if inc := m.opts.Incident; inc != nil {
		if inc.Delay > 0 {
			cmds = append(cmds, tea.Tick(inc.Delay, func(time.Time) tea.Msg { return incidentDueMsg{} }))
		} else {
			cmds = append(cmds, func() tea.Msg { return incidentDueMsg{} })
		}
	}
	return tea.Batch(cmds...)
}
