package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
)

// The frame around the views: two header lines (and the banner when the
// store does not answer), the view's body, the status line and the short
// help. View only formats what Update stored: no query runs here, and
// only the visible rows are formatted.

// View renders the frame.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	return v
}

func (m *Model) render() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.tooSmall() {
		return m.renderTooSmall()
	}
	lines := make([]string, 0, m.height)
	lines = append(lines, m.headerLines()...)
	bodyH := m.bodyHeight()
	var body []string
	if m.showHelp {
		body = m.helpBody(bodyH)
	} else {
		body = m.body(bodyH)
	}
	if len(body) > bodyH {
		body = body[:bodyH]
	}
	lines = append(lines, body...)
	for range bodyH - len(body) {
		lines = append(lines, "")
	}
	lines = append(lines, m.statusLine(), m.helpLine())
	return strings.Join(lines, "\n")
}

func (c *shared) renderTooSmall() string {
	msg := []string{
		"terminal too small",
		fmt.Sprintf("%dx%d, routeops needs %dx%d", c.width, c.height, minWidth, minHeight),
		"enlarge it, or press q to quit",
	}
	out := make([]string, 0, len(msg))
	for i, l := range msg {
		if i >= c.height {
			break
		}
		out = append(out, trunc(l, c.width))
	}
	return strings.Join(out, "\n")
}

// ---- header ----

func (c *shared) engineText() string {
	e := c.opts.Engine
	policy := string(e.Policy)
	var es *ops.EngineState
	if c.snap != nil {
		es = &c.snap.Engine
		if policy == "" {
			policy = es.Policy
		}
	}
	if !e.Running {
		s := "engine off (--no-engine)"
		if es != nil && es.Engines > 0 {
			s += fmt.Sprintf("; %d running elsewhere (%s)", es.Engines, es.Policy)
		}
		return s
	}
	state := "starting"
	if es != nil {
		state = es.State
		if es.State == "none" {
			state = "starting"
		}
	}
	if policy == "" {
		return "engine " + state
	}
	return "engine " + state + " (" + policy + ")"
}

func (c *shared) dataAge() string {
	if c.snap == nil {
		if c.failures > 0 {
			return "no data"
		}
		return "loading…"
	}
	age := c.clock.Now().Sub(c.snap.GeneratedAt)
	s := "data " + present.Duration(age) + " old"
	if c.failures > 0 {
		s += " (stale)"
	}
	return s
}

func (c *shared) headerLines() []string {
	store := c.opts.Store
	if store == "" && c.snap != nil || c.snap != nil && c.snap.Database != nil {
		// On a database: the host actually connected, which a failover
		// changes.
		store = c.snap.Store
	}
	eng := c.engineText()
	right := c.dataAge()
	if c.opts.Operator != "" {
		right += " · op " + present.Line(c.opts.Operator)
	}
	left := "routeops · "
	storeW := c.width - width(left) - 3 - width(eng) - 1 - width(right)
	left += trunc(store, max(storeW, 8)) + " · " + eng
	l1 := trunc(left, c.width)
	if gap := c.width - width(l1) - width(right); gap >= 1 {
		l1 += strings.Repeat(" ", gap) + right
	}
	l1 = c.st.r(c.st.title, l1)

	var l2 strings.Builder
	w := c.width
	if c.readOnly() {
		l2.WriteString(c.st.r(c.st.badge, "READ-ONLY"))
		l2.WriteByte(' ')
		w -= 10
	}
	if b, bw := c.topologyBadges(); bw > 0 {
		l2.WriteString(b)
		w -= bw
	}
	l2.WriteString(c.summaryText(w))
	lines := []string{l1, l2.String()}
	if b := c.banner(); b != "" {
		lines = append(lines, c.st.r(c.st.banner, padRight(b, c.width)))
	}
	return lines
}

func (c *shared) summaryText(w int) string {
	if c.snap == nil {
		return trunc("waiting for the first snapshot…", w)
	}
	s := &c.snap.Summary
	ok := s.Orgs - s.CriticalOrgs - s.WarningOrgs
	var parts []string
	parts = append(parts, fmt.Sprintf("%d orgs: %d CRIT, %d WARN, %d OK", s.Orgs, s.CriticalOrgs, s.WarningOrgs, ok))
	parts = append(parts, present.Count(s.Queued)+" queued")
	if s.StalledQueues > 0 {
		parts = append(parts, fmt.Sprintf("%d STALLED", s.StalledQueues))
	} else {
		parts = append(parts, "0 stalled")
	}
	parts = append(parts, present.Count(s.Quarantined)+" quarantined", present.Count(s.Assigned1m)+"/min")
	if c.stats != nil && w >= 100 {
		parts = append(parts, fmt.Sprintf("engine: %d assigned, %d faults", c.stats.Assigned, c.stats.Faults))
	}
	text := trunc(strings.Join(parts, " · "), w)
	if s.StalledQueues > 0 && c.st.color {
		return strings.Replace(text, "STALLED", c.st.r(c.st.stalled, "STALLED"), 1)
	}
	return text
}

// ---- status and help lines ----

func (m *Model) statusLine() string {
	switch {
	case m.confirm != nil:
		return m.st.r(m.st.prompt, trunc(m.confirm.prompt, m.width-4)+" y/N")
	case m.mode == inputFilter:
		return trunc("/"+string(m.input)+"█  (enter keeps, esc clears)", m.width)
	case m.mode == inputCommand:
		return trunc(":"+string(m.input)+"█", m.width)
	}
	text := m.status
	if text == "" {
		switch m.view {
		case viewFleet:
			text = "enter opens an org · / filters · :stalled · ? shows every key"
		case viewOrg:
			text = "tab: queues/items/agents · enter: items, then an item · esc back"
		}
	}
	text = trunc(text, m.width)
	switch m.statusKind {
	case statusErr:
		return m.st.r(m.st.errText, text)
	case statusOK:
		return m.st.r(m.st.okText, text)
	}
	return text
}

// helpLine is the short help; the help bubble fits it to the width.
func (m *Model) helpLine() string {
	// The help bubble can overrun its width by one item when not even its
	// ellipsis fits, so cut what it returns as well.
	line := m.help.ShortHelpView(m.helpKeyMap().ShortHelp())
	if width(stripStyle(line)) > m.width {
		line = truncStyled(line, m.width)
	}
	return line
}
