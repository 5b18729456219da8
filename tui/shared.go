package tui

import (
	"context"
	"fmt"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// shared is the context that every view works in: the terminal's size,
// the styles and keys, the clock, ops and the options (read-only, demo),
// the status line, and the feed of snapshots. The root model holds it;
// a view gets a pointer to it for the length of one Update or View and
// keeps nothing of it.
type shared struct {
	opts  Options
	ctx   context.Context
	clock router.Clock
	keys  keyMap
	help  help.Model
	st    styles

	width, height int

	status     string
	statusKind statusKind

	feed
}

type statusKind uint8

const (
	statusInfo statusKind = iota
	statusOK
	statusErr
)

func (c *shared) setStatus(k statusKind, text string) {
	c.status, c.statusKind = present.Line(text), k
}

func (c *shared) readOnly() bool {
	return c.opts.ReadOnly || (c.opts.Ops != nil && c.opts.Ops.ReadOnly())
}

// call runs f off the update loop, as a tea.Cmd, with a deadline: every
// query and action goes through here, so a slow or unreachable store
// never freezes the console.
func (c *shared) call(timeout time.Duration, f func(ctx context.Context, o *ops.Ops) tea.Msg) tea.Cmd {
	o, parent := c.opts.Ops, c.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(parent, timeout)
		defer cancel()
		return f(ctx, o)
	}
}

func (c *shared) tooSmall() bool { return c.width < minWidth || c.height < minHeight }

func (c *shared) headerHeight() int {
	if c.banner() != "" {
		return 3
	}
	return 2
}

// bodyHeight is what is left for a view between the header and the
// status and help lines.
func (c *shared) bodyHeight() int { return max(c.height-c.headerHeight()-2, 1) }

// slowAfter is how long a refresh may run before the header says that the
// store is not answering.
func (c *shared) slowAfter() time.Duration {
	return min(max(2*c.opts.Refresh, 3*time.Second), queryTimeout/2)
}

// banner is the unreachable-store line, or "".
func (c *shared) banner() string {
	now := c.clock.Now()
	switch {
	case c.failures > 0:
		return fmt.Sprintf("!! database unreachable, retrying… (%d failed, %s): %s",
			c.failures, present.Duration(now.Sub(c.failSince)), c.lastErr)
	case c.fetching && now.Sub(c.fetchSince) >= c.slowAfter():
		return fmt.Sprintf("!! database not answering for %s, retrying…", present.Duration(now.Sub(c.fetchSince)))
	}
	return ""
}
