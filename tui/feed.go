package tui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// feed is the stream of snapshots from the monitor that every view reads:
// the latest snapshot, its fleet rows, and how the refreshes are going.
// One refresh runs at a time; a snapshot that fails keeps the last good
// one on screen.
type feed struct {
	snap       *ops.Snapshot
	rows       []fleetRow
	orgW       int // the widest org name
	trends     map[string]*trend
	stats      *router.EngineStats
	fetching   bool
	fetchSince time.Time // when the running refresh started
	again      bool      // a refresh was asked for while one ran
	failures   int
	lastErr    string
	failSince  time.Time
}

type (
	tickMsg struct{}

	snapMsg struct {
		snap  *ops.Snapshot
		stats *router.EngineStats
		err   error
	}
)

func tickCmd(d time.Duration) tea.Cmd {
	return tea.Tick(d, func(time.Time) tea.Msg { return tickMsg{} })
}

// fetchSnapshot builds a snapshot through the monitor: Observe (which
// records stall transitions) when recording, else Snapshot.
func (c *shared) fetchSnapshot() tea.Cmd {
	o, record, stats, parent := c.opts.Ops, c.opts.Record, c.opts.Engine.Stats, c.ctx
	return func() tea.Msg {
		if o == nil || o.Monitor == nil {
			return snapMsg{err: errors.New("console started without a monitor")}
		}
		ctx, cancel := context.WithTimeout(parent, queryTimeout)
		defer cancel()
		var snap *ops.Snapshot
		var err error
		if record {
			snap, err = o.Monitor.Observe(ctx)
		} else {
			snap, err = o.Monitor.Snapshot(ctx, "")
		}
		msg := snapMsg{snap: snap, err: err}
		if stats != nil {
			s := stats()
			msg.stats = &s
		}
		return msg
	}
}

// startFetch starts a snapshot unless one is running; then, when again
// is set, another runs right after it.
func (c *shared) startFetch(again bool) tea.Cmd {
	if c.fetching {
		c.again = c.again || again
		return nil
	}
	c.fetching, c.fetchSince = true, c.clock.Now()
	return c.fetchSnapshot()
}

// take records a snapshot's result and reports whether it brought a new
// snapshot; the fleet rows are rebuilt from it. It returns the command of
// the refresh asked for while this one ran, if any.
func (c *shared) take(msg snapMsg) (bool, tea.Cmd) {
	c.fetching = false
	ok := msg.err == nil && msg.snap != nil
	if !ok {
		if c.failures == 0 {
			c.failSince = c.clock.Now()
		}
		c.failures++
		if msg.err != nil {
			c.lastErr = present.Error(msg.err)
		}
	} else {
		c.failures, c.lastErr = 0, ""
		c.setSnapshot(msg.snap)
		if msg.stats != nil {
			c.stats = msg.stats
		}
	}
	var next tea.Cmd
	if c.again {
		c.again = false
		next = c.startFetch(false)
	}
	return ok, next
}

func (f *feed) setSnapshot(snap *ops.Snapshot) {
	f.snap = snap
	f.rows = buildRows(snap, f.trends)
	w := 3
	for i := range f.rows {
		if n := len(f.rows[i].org); n > w {
			w = n
		}
	}
	f.orgW = w
}

func (f *feed) findOrg(name string) *ops.OrgHealth {
	if f.snap == nil {
		return nil
	}
	for i := range f.snap.Orgs {
		if f.snap.Orgs[i].Org == name {
			return &f.snap.Orgs[i]
		}
	}
	return nil
}

// queueDepth is a queue's depth in the snapshot, 0 when it is not there.
func (f *feed) queueDepth(ref router.QueueRef) int {
	if oh := f.findOrg(ref.Org); oh != nil {
		for _, q := range oh.Queues {
			if q.Queue == ref.Queue {
				return q.Depth
			}
		}
	}
	return 0
}

// matchOrg resolves an org name: exact, else case-insensitive, else a
// unique substring.
func (f *feed) matchOrg(name string) (string, error) {
	if f.snap == nil {
		return name, nil
	}
	lower := strings.ToLower(name)
	var subs []string
	for i := range f.snap.Orgs {
		o := f.snap.Orgs[i].Org
		if o == name {
			return o, nil
		}
	}
	for i := range f.snap.Orgs {
		o := f.snap.Orgs[i].Org
		if strings.EqualFold(o, name) {
			return o, nil
		}
		if strings.Contains(strings.ToLower(o), lower) {
			subs = append(subs, o)
		}
	}
	switch len(subs) {
	case 0:
		return "", fmt.Errorf("no org matches %q (%d orgs in the snapshot)", name, len(f.snap.Orgs))
	case 1:
		return subs[0], nil
	}
	sort.Strings(subs)
	if len(subs) > 5 {
		subs = append(subs[:5], "…")
	}
	return "", fmt.Errorf("%q matches several orgs: %s", name, strings.Join(subs, ", "))
}
