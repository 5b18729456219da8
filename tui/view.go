package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// View renders the frame. It only formats what Update stored: no query
// runs here, and only the visible rows are formatted.
func (m Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	return v
}

func (m Model) tooSmall() bool { return m.width < minWidth || m.height < minHeight }

func (m Model) headerHeight() int {
	if m.banner() != "" {
		return 3
	}
	return 2
}

// slowAfter is how long a refresh may run before the header says that the
// store is not answering.
func (m Model) slowAfter() time.Duration {
	return min(max(2*m.opts.Refresh, 3*time.Second), queryTimeout/2)
}

// banner is the unreachable-store line, or "".
func (m Model) banner() string {
	now := m.clock.Now()
	switch {
	case m.failures > 0:
		return fmt.Sprintf("!! database unreachable, retrying… (%d failed, %s): %s",
			m.failures, fmtDur(now.Sub(m.failSince)), m.lastErr)
	case m.fetching && now.Sub(m.fetchSince) >= m.slowAfter():
		return fmt.Sprintf("!! database not answering for %s, retrying…", fmtDur(now.Sub(m.fetchSince)))
	}
	return ""
}

// bodyHeight is what is left between the header and the status and help
// lines.
func (m Model) bodyHeight() int { return max(m.height-m.headerHeight()-2, 1) }

func (m Model) fleetFiltered() bool { return m.fleet.filter != "" || m.fleet.stalledOnly }

// fleetRows is how many org rows fit.
func (m Model) fleetRows() int {
	h := m.bodyHeight() - 1
	if m.fleetFiltered() {
		h--
	}
	return max(h, 1)
}

func (m Model) render() string {
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
	switch {
	case m.showHelp:
		body = m.helpBody(bodyH)
	case m.view == viewOrg:
		body = m.orgBody(bodyH)
	case m.view == viewItem:
		body = m.textBody(bodyH, m.itemTitle(), &m.item.text)
	case m.view == viewTimeline:
		body = m.textBody(bodyH, "Timeline of "+scopeName(m.tl.org)+", last hour (newest at the bottom; r reloads)", &m.tl.text)
	case m.view == viewRepair:
		body = m.textBody(bodyH, "Repair plan for "+scopeName(m.repair.org)+" (nothing changes until you confirm)", &m.repair.text)
	default:
		body = m.fleetBody(bodyH)
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

func (m Model) renderTooSmall() string {
	msg := []string{
		"terminal too small",
		fmt.Sprintf("%dx%d, routeops needs %dx%d", m.width, m.height, minWidth, minHeight),
		"enlarge it, or press q to quit",
	}
	out := make([]string, 0, len(msg))
	for i, l := range msg {
		if i >= m.height {
			break
		}
		out = append(out, trunc(l, m.width))
	}
	return strings.Join(out, "\n")
}

// ---- header ----

func (m Model) engineText() string {
	e := m.opts.Engine
	policy := string(e.Policy)
	var es *ops.EngineState
	if m.snap != nil {
		es = &m.snap.Engine
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

func (m Model) dataAge() string {
	if m.snap == nil {
		if m.failures > 0 {
			return "no data"
		}
		return "loading…"
	}
	age := m.clock.Now().Sub(m.snap.GeneratedAt)
	s := "data " + fmtDur(age) + " old"
	if m.failures > 0 {
		s += " (stale)"
	}
	return s
}

func (m Model) headerLines() []string {
	store := m.opts.Store
	if store == "" && m.snap != nil || m.snap != nil && m.snap.Database != nil {
		// On a database: the host actually connected, which a failover
		// changes.
		store = m.snap.Store
	}
	eng := m.engineText()
	right := m.dataAge()
	if m.opts.Operator != "" {
		right += " · op " + m.opts.Operator
	}
	left := "routeops · "
	storeW := m.width - width(left) - 3 - width(eng) - 1 - width(right)
	left += trunc(store, max(storeW, 8)) + " · " + eng
	l1 := trunc(left, m.width)
	if gap := m.width - width(l1) - width(right); gap >= 1 {
		l1 += strings.Repeat(" ", gap) + right
	}
	l1 = m.st.r(m.st.title, l1)

	var l2 strings.Builder
	w := m.width
	if m.readOnly() {
		l2.WriteString(m.st.r(m.st.badge, "READ-ONLY"))
		l2.WriteByte(' ')
		w -= 10
	}
	if b, bw := m.topologyBadges(); bw > 0 {
		l2.WriteString(b)
		w -= bw
	}
	l2.WriteString(m.summaryText(w))
	lines := []string{l1, l2.String()}
	if b := m.banner(); b != "" {
		lines = append(lines, m.st.r(m.st.banner, padRight(b, m.width)))
	}
	return lines
}

func (m Model) summaryText(w int) string {
	if m.snap == nil {
		return trunc("waiting for the first snapshot…", w)
	}
	s := &m.snap.Summary
	ok := s.Orgs - s.CriticalOrgs - s.WarningOrgs
	var parts []string
	parts = append(parts, fmt.Sprintf("%d orgs: %d CRIT, %d WARN, %d OK", s.Orgs, s.CriticalOrgs, s.WarningOrgs, ok))
	parts = append(parts, fmtCount(s.Queued)+" queued")
	if s.StalledQueues > 0 {
		parts = append(parts, fmt.Sprintf("%d STALLED", s.StalledQueues))
	} else {
		parts = append(parts, "0 stalled")
	}
	parts = append(parts, fmtCount(s.Quarantined)+" quarantined", fmtCount(s.Assigned1m)+"/min")
	if m.stats != nil && w >= 100 {
		parts = append(parts, fmt.Sprintf("engine: %d assigned, %d faults", m.stats.Assigned, m.stats.Faults))
	}
	text := trunc(strings.Join(parts, " · "), w)
	if s.StalledQueues > 0 && m.st.color {
		return strings.Replace(text, "STALLED", m.st.r(m.st.stalled, "STALLED"), 1)
	}
	return text
}

// ---- status and help lines ----

func (m Model) statusLine() string {
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
func (m Model) helpLine() string {
	// The help bubble can overrun its width by one item when not even its
	// ellipsis fits, so cut what it returns as well.
	line := m.help.ShortHelpView(m.helpKeyMap().ShortHelp())
	if width(stripStyle(line)) > m.width {
		line = truncStyled(line, m.width)
	}
	return line
}

// ---- fleet view ----

type fleetCols struct {
	wide        bool
	org, status int
}

func (m Model) fleetCols() fleetCols {
	c := fleetCols{wide: m.width >= 100}
	fixed, maxOrg := 48, 20
	if c.wide {
		fixed, maxOrg = 67, 24
	}
	c.org = clamp(m.orgW, 8, maxOrg)
	c.org = min(c.org, max(m.width-fixed-10, 8))
	c.status = max(m.width-fixed-c.org, 0)
	return c
}

func (m Model) fleetHeader(c fleetCols) string {
	var b strings.Builder
	b.WriteString("  ")
	appendCell(&b, "HEALTH", 6, false, false)
	appendCell(&b, "ORG", c.org, false, false)
	appendCell(&b, "QUEUED", 6, true, false)
	appendCell(&b, "WAIT", 5, true, false)
	appendCell(&b, "HEAD", 5, true, false)
	appendCell(&b, "A/MIN", 5, true, false)
	if c.wide {
		appendCell(&b, "TREND", 8, false, false)
	}
	appendCell(&b, "AGENTS", 7, true, false)
	if c.wide {
		appendCell(&b, "FREE/CAP", 9, true, false)
	}
	appendCell(&b, "QUAR", 4, true, false)
	b.WriteString(trunc("STATUS", c.status))
	return m.st.r(m.st.colHead, strings.TrimRight(b.String(), " "))
}

func (m Model) fleetLine(r *fleetRow, sel bool, c fleetCols) string {
	prefix := "  "
	if sel {
		prefix = "> "
	}
	health := healthWord(r.health)
	var mid strings.Builder
	mid.Grow(m.width)
	mid.WriteString(strings.Repeat(" ", 6-width(health)+1))
	appendCell(&mid, r.org, c.org, false, false)
	appendCell(&mid, fmtCount(int(r.queued)), 6, true, false)
	appendCell(&mid, fmtAge(float64(r.oldest)), 5, true, false)
	appendCell(&mid, fmtAge(float64(r.head)), 5, true, false)
	if c.wide {
		appendCell(&mid, fmtCount(int(r.assigned1m)), 5, true, false)
		appendCell(&mid, r.trend.spark(8), 8, false, false)
	} else {
		appendCell(&mid, fmtCount(int(r.assigned1m))+r.trend.arrow(), 5, true, false)
	}
	appendCell(&mid, fmtRatio(int(r.agentsAvail), int(r.agentsTotal)), 7, true, false)
	if c.wide {
		appendCell(&mid, fmtRatio(int(r.free), int(r.capacity)), 9, true, false)
	}
	appendCell(&mid, fmtCount(int(r.quarantined)), 4, true, false)
	status, stalled := stallText(r.stalled, r.cause), true
	if status == "" {
		status, stalled = r.reason, false
	}
	status = trunc(oneLine(status), c.status)
	if !m.st.color {
		return strings.TrimRight(prefix+health+mid.String()+status, " ")
	}
	if sel {
		return m.st.selected.Render(padRight(prefix+health+mid.String()+status, m.width))
	}
	st := m.st.dim
	if stalled {
		st = m.st.stalled
	}
	return prefix + m.st.health(r.health, health) + mid.String() + m.st.r(st, status)
}

func (m Model) fleetBody(h int) []string {
	out := make([]string, 0, h)
	if m.fleetFiltered() {
		var parts []string
		if m.fleet.stalledOnly {
			parts = append(parts, "stalled only")
		}
		if m.fleet.filter != "" {
			parts = append(parts, "filter /"+m.fleet.filter)
		}
		out = append(out, trunc(fmt.Sprintf("%s · %d of %d orgs · esc clears", strings.Join(parts, " · "), m.fleetLen(), len(m.rows)), m.width))
	}
	c := m.fleetCols()
	out = append(out, m.fleetHeader(c))
	n := m.fleetLen()
	switch {
	case m.snap == nil && m.failures > 0:
		return append(out, "  no data yet: the store is unreachable (see the banner)")
	case m.snap == nil:
		return append(out, "  waiting for the first snapshot…")
	case len(m.rows) == 0:
		return append(out, "  no orgs in the store yet")
	case n == 0:
		return append(out, "  no org matches; esc clears the filter")
	}
	rows := m.fleetRows()
	off := scrollTo(m.fleet.cursor, m.fleet.offset, rows)
	off = clamp(off, 0, max(n-rows, 0))
	for i := off; i < n && i < off+rows; i++ {
		out = append(out, m.fleetLine(m.fleetRowAt(i), i == m.fleet.cursor, c))
	}
	return out
}

// ---- org view ----

type orgLayout struct{ qRows, iRows, aRows int }

func (m Model) orgLayout() orgLayout {
	h := m.bodyHeight() - 1 // title
	nq := 1
	if m.org.oh != nil {
		nq = max(len(m.org.oh.Queues), 1)
	}
	q := clamp(min(nq, min(6, (h-6)/3)), 1, nq)
	rest := h - (1 + q) - 4
	i := max((rest*3+4)/5, 1)
	a := max(rest-i, 1)
	return orgLayout{qRows: q, iRows: i, aRows: a}
}

func (m Model) orgBody(h int) []string {
	out := make([]string, 0, h)
	oh := m.org.oh
	if oh == nil {
		out = append(out, trunc("org "+m.org.name+": not in the current snapshot (r refreshes)", m.width))
		return out
	}
	lay := m.orgLayout()
	// Title.
	title := fmt.Sprintf("%s %s · %d queues · %s queued · %s quarantined · agents %s · free %s",
		oh.Org, healthWord(oh.Health), len(oh.Queues), fmtCount(oh.Queued), fmtCount(oh.Quarantined),
		fmtRatio(oh.AgentsAvailable, oh.AgentsTotal), fmtRatio(oh.AvailableCapacity, oh.Capacity))
	if oh.Reason != "" {
		title += " · " + oneLine(oh.Reason)
	}
	out = append(out, m.st.r(m.st.title, trunc(title, m.width)))

	// Queues.
	wide := m.width >= 100
	rest := m.width - 55
	if wide {
		rest -= 12
	}
	var b strings.Builder
	b.WriteString(focusMark(m.org.focus == paneQueues))
	b.WriteByte(' ')
	appendCell(&b, "QUEUE", 11, false, false)
	appendCell(&b, "DEPTH", 5, true, false)
	appendCell(&b, "WAIT", 5, true, false)
	appendCell(&b, "STATE", 7, false, false)
	if wide {
		appendCell(&b, "A/MIN", 5, true, false)
		appendCell(&b, "FREE", 5, true, false)
	}
	appendCell(&b, "HEAD", 8, false, false)
	appendCell(&b, "AGE", 5, true, false)
	appendCell(&b, "TRIES", 5, true, false)
	b.WriteString(trunc("CAUSE / LAST ERROR", rest))
	out = append(out, m.st.r(m.st.colHead, strings.TrimRight(b.String(), " ")))
	qOff := clamp(scrollTo(m.org.qCursor, m.org.qOffset, lay.qRows), 0, max(len(oh.Queues)-lay.qRows, 0))
	for i := qOff; i < len(oh.Queues) && i < qOff+lay.qRows; i++ {
		out = append(out, m.queueLine(&oh.Queues[i], i == m.org.qCursor, wide, rest))
	}
	if len(oh.Queues) == 0 {
		out = append(out, "  no queues")
	}
	for len(out) < 2+lay.qRows {
		out = append(out, "")
	}

	// Items of the selected queue.
	out = append(out, m.itemsSection(lay.iRows)...)
	for len(out) < 2+lay.qRows+2+lay.iRows {
		out = append(out, "")
	}
	// Agents.
	out = append(out, m.agentsSection(lay.aRows)...)
	return out
}

// queueState is paused, STALLED or flowing.
func queueState(q *ops.QueueHealth) string {
	switch {
	case q.Paused:
		return "paused"
	case q.Stalled:
		return "STALLED"
	}
	return "flowing"
}

func focusMark(focused bool) string {
	if focused {
		return "▸"
	}
	return " "
}

func rowMark(selected, focused bool) string {
	switch {
	case selected && focused:
		return "> "
	case selected:
		return "· "
	}
	return "  "
}

func (m Model) queueLine(q *ops.QueueHealth, sel, wide bool, rest int) string {
	focused := m.org.focus == paneQueues
	var b strings.Builder
	b.WriteString(rowMark(sel, focused))
	appendCell(&b, q.Queue, 11, false, false)
	appendCell(&b, fmtCount(q.Depth), 5, true, false)
	appendCell(&b, fmtAge(q.OldestAgeSeconds), 5, true, false)
	appendCell(&b, queueState(q), 7, false, false)
	if wide {
		appendCell(&b, fmtCount(q.Assigned1m), 5, true, false)
		appendCell(&b, fmtCount(q.AvailableCapacity), 5, true, false)
	}
	head, age, tries := "-", "-", "-"
	if q.Head != nil {
		head, age, tries = q.Head.Item, fmtAge(q.Head.AgeSeconds), strconv.Itoa(q.Head.Attempts)
	}
	appendCell(&b, head, 8, false, false)
	appendCell(&b, age, 5, true, false)
	appendCell(&b, tries, 5, true, false)
	var status string
	lastErr := ""
	if q.Head != nil {
		lastErr = q.Head.LastError
	}
	switch {
	case q.Stalled:
		status = string(q.Cause)
		if lastErr != "" {
			status += ": " + lastErr
		} else if q.Reason != "" {
			status += ": " + q.Reason
		}
	case q.Health != ops.HealthOK && q.Reason != "":
		status = healthWord(q.Health) + " " + q.Reason
	case lastErr != "":
		status = "last error: " + lastErr
	case q.Reason != "":
		status = q.Reason
	}
	status = trunc(oneLine(status), rest)
	line := b.String()
	if !m.st.color {
		return strings.TrimRight(line+status, " ")
	}
	if sel && focused {
		return m.st.selected.Render(padRight(line+status, m.width))
	}
	if q.Stalled {
		status = m.st.r(m.st.stalled, status)
	} else if q.Health != ops.HealthOK {
		status = m.st.health(q.Health, status)
	}
	return line + status
}

func (m Model) itemsSection(rows int) []string {
	out := make([]string, 0, rows+2)
	focused := m.org.focus == paneItems
	title := "Items"
	if m.org.queue != "" {
		title += " in " + m.org.queue
	}
	title += " · " + string(m.org.state)
	switch {
	case m.org.key != itemsKey(m.org.name, m.org.queue, m.org.state):
		title += " · loading…"
	default:
		n := strconv.Itoa(len(m.org.items))
		if m.org.next != 0 {
			n += "+"
		}
		title += " · " + n
		if m.org.filter != "" {
			title += fmt.Sprintf(" · filter /%s (%d)", m.org.filter, m.itemsLen())
		}
	}
	if m.org.err != "" {
		title += " · error: " + m.org.err
	}
	title += " · s: state"
	out = append(out, m.st.r(m.st.title, trunc(focusMark(focused)+" "+title, m.width)))
	rest := m.width - 32
	var b strings.Builder
	b.WriteString("  ")
	appendCell(&b, "ITEM", 10, false, false)
	appendCell(&b, "PRI", 3, true, false)
	appendCell(&b, "WAITED", 6, true, false)
	appendCell(&b, "TRIES", 5, true, false)
	b.WriteString(trunc("NOTES", rest))
	out = append(out, m.st.r(m.st.colHead, b.String()))
	if m.org.key != itemsKey(m.org.name, m.org.queue, m.org.state) {
		return out
	}
	n := m.itemsLen()
	if n == 0 {
		if m.org.filter != "" {
			return append(out, "  no item matches the filter")
		}
		return append(out, "  no "+string(m.org.state)+" items in this queue")
	}
	var headID int64
	if q := m.selectedQueue(); q != nil && q.Head != nil {
		headID, _ = strconv.ParseInt(q.Head.Item, 10, 64)
	}
	now := m.clock.Now()
	off := clamp(scrollTo(m.org.iCursor, m.org.iOffset, rows), 0, max(n-rows, 0))
	for i := off; i < n && i < off+rows; i++ {
		it := m.itemAt(i)
		sel := i == m.org.iCursor
		var l strings.Builder
		l.WriteString(rowMark(sel && focused, true))
		appendCell(&l, router.FormatItemID(it.ID), 10, false, false)
		appendCell(&l, strconv.Itoa(it.Priority), 3, true, false)
		appendCell(&l, fmtAge(now.Sub(it.EnqueuedAt).Seconds()), 6, true, false)
		appendCell(&l, strconv.Itoa(it.Attempts), 5, true, false)
		l.WriteString(trunc(oneLine(itemNotes(it, it.ID == headID)), rest))
		line := strings.TrimRight(l.String(), " ")
		if sel && focused && m.st.color {
			line = m.st.selected.Render(padRight(line, m.width))
		}
		out = append(out, line)
	}
	return out
}

func itemNotes(it *router.WorkItem, head bool) string {
	var parts []string
	if head {
		parts = append(parts, "HEAD")
	}
	if it.Skipped {
		parts = append(parts, "skipped")
	}
	if it.FaultCause != "" {
		parts = append(parts, string(it.FaultCause))
	}
	if it.AgentID != "" {
		parts = append(parts, "agent "+it.AgentID)
	}
	if it.QuarantineReason != "" {
		parts = append(parts, "reason: "+it.QuarantineReason)
	}
	if it.LastError != "" {
		parts = append(parts, it.LastError)
	}
	return strings.Join(parts, " · ")
}

func (m Model) agentsSection(rows int) []string {
	out := make([]string, 0, rows+2)
	focused := m.org.focus == paneAgents
	avail, load, capacity := 0, 0, 0
	for i := range m.org.agents {
		a := &m.org.agents[i]
		if a.Status == router.AgentAvailable {
			avail++
		}
		load += a.Load
		capacity += a.Capacity
	}
	title := fmt.Sprintf("Agents · %d of %d available · load %d/%d", avail, len(m.org.agents), load, capacity)
	out = append(out, m.st.r(m.st.title, trunc(focusMark(focused)+" "+title, m.width)))
	rest := m.width - 48
	var b strings.Builder
	b.WriteString("  ")
	appendCell(&b, "AGENT", 14, false, false)
	appendCell(&b, "TEAM", 12, false, false)
	appendCell(&b, "STATUS", 9, false, false)
	appendCell(&b, "LOAD", 7, true, false)
	b.WriteString(trunc("SKILLS", rest))
	out = append(out, m.st.r(m.st.colHead, b.String()))
	n := len(m.org.agents)
	if n == 0 {
		return append(out, "  no agents")
	}
	off := clamp(scrollTo(m.org.aCursor, m.org.aOffset, rows), 0, max(n-rows, 0))
	for i := off; i < n && i < off+rows; i++ {
		a := &m.org.agents[i]
		sel := focused && i == m.org.aCursor
		var l strings.Builder
		l.WriteString(rowMark(sel, true))
		appendCell(&l, a.ID, 14, false, false)
		appendCell(&l, a.TeamID, 12, false, false)
		appendCell(&l, string(a.Status), 9, false, false)
		appendCell(&l, fmtRatio(a.Load, a.Capacity), 7, true, false)
		skills := strings.Join(a.Skills, ",")
		if a.TeamStatus == router.TeamPaused {
			skills = "team paused · " + skills
		}
		l.WriteString(trunc(skills, rest))
		line := strings.TrimRight(l.String(), " ")
		if sel && m.st.color {
			line = m.st.selected.Render(padRight(line, m.width))
		}
		out = append(out, line)
	}
	return out
}

// ---- text views: item, timeline, repair plan ----

func (m Model) itemTitle() string {
	t := "Item " + router.FormatItemID(m.item.id)
	if m.item.err != "" {
		t += " · error: " + m.item.err
	}
	return t
}

func (m Model) textBody(h int, title string, t *textState) []string {
	out := make([]string, 0, h)
	lines := t.wrapped(m.width)
	rows := h - 1
	off := clamp(t.off, 0, max(len(lines)-rows, 0))
	pos := ""
	if len(lines) > rows {
		pos = fmt.Sprintf(" · %d-%d of %d", off+1, min(off+rows, len(lines)), len(lines))
	}
	out = append(out, m.st.r(m.st.title, trunc(title+pos, m.width)))
	for i := off; i < len(lines) && i < off+rows; i++ {
		out = append(out, lines[i])
	}
	return out
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

func fmtClock(t time.Time) string { return t.UTC().Format("15:04:05") }

// itemLines renders an item's detail: the revision chain with verdicts and
// the journal copy, the last error, and the events.
func itemLines(d *ops.ItemDetail, now time.Time) []string {
	it := &d.Item
	var out []string
	out = append(out, fmt.Sprintf("Item %d · org %s · queue %s · state %s", it.ID, it.OrgID, it.QueueID, it.State))
	out = append(out, fmt.Sprintf("Enqueued %s UTC (waited %s) · priority %d · attempts %d",
		fmtTime(it.EnqueuedAt), fmtDur(now.Sub(it.EnqueuedAt)), it.Priority, it.Attempts))
	cur := fmt.Sprintf("Current revision %d: %s", it.CurrentRevisionID, strings.ToUpper(d.Revision))
	if d.Error != "" {
		cur += ": " + d.Error
	}
	out = append(out, cur)
	if it.FaultCause != "" {
		f := "Fault: " + string(it.FaultCause)
		if it.LastAttemptAt != nil {
			f += " · last attempt " + fmtTime(*it.LastAttemptAt)
		}
		out = append(out, f)
	}
	le := it.LastError
	if le == "" {
		le = "none"
	}
	out = append(out, "Last error: "+oneLine(le))
	if it.QuarantineReason != "" {
		out = append(out, "Quarantine reason: "+oneLine(it.QuarantineReason))
	}
	if it.AgentID != "" {
		a := "Agent: " + it.AgentID
		if it.AssignedAt != nil {
			a += " (assigned " + fmtTime(*it.AssignedAt) + ")"
		}
		out = append(out, a)
	}
	if it.Skipped {
		out = append(out, "Skipped by the skip policy: routed past until repaired or released")
	}
	out = append(out, "", fmt.Sprintf("Revision chain (%d, oldest first):", len(d.Revisions)))
	seenCurrent := false
	for _, r := range d.Revisions {
		verdict := "valid"
		if !r.Valid {
			verdict = "INVALID: " + r.Error
		}
		mark := " "
		if r.Current {
			mark, seenCurrent = "*", true
		}
		src := r.Source
		if src == "" {
			src = "-"
		}
		out = append(out, fmt.Sprintf(" %s rev %d  %s  %-10s %s  %s", mark, r.ID, fmtTime(r.CreatedAt), src, verdict,
			oneLine(string(r.Attributes))))
	}
	if !seenCurrent {
		out = append(out, fmt.Sprintf(" * rev %d  MISSING: the current revision row is gone", it.CurrentRevisionID))
	}
	if j := d.Journal; j != nil {
		verdict := "valid"
		if !j.Valid {
			verdict = "INVALID"
		}
		out = append(out, fmt.Sprintf("Journal copy (kept on the item): revision %d · %s · %s", j.RevisionID, verdict,
			oneLine(string(j.Attributes))))
	} else {
		out = append(out, "Journal copy: none")
	}
	out = append(out, "", fmt.Sprintf("Events (%d, oldest first):", len(d.Events)))
	for _, e := range d.Events {
		who := e.Actor
		if e.Origin != "" && e.Origin != "local" {
			who += "@" + e.Origin
		}
		out = append(out, fmt.Sprintf("  %s  %-17s %s  %s", fmtTime(e.At), e.Kind, who, oneLine(string(e.Detail))))
	}
	if len(d.Events) == 0 {
		out = append(out, "  none")
	}
	return out
}

// timelineLines renders the journal as an incident timeline.
func timelineLines(t *ops.Timeline) []string {
	var out []string
	head := fmt.Sprintf("Window %s to %s UTC · %s · %d events", fmtTime(t.Since), fmtClock(t.Until), scopeName(t.Org), t.Events)
	if t.Truncated {
		head += " (only the newest)"
	}
	out = append(out, head)
	s := &t.Summary
	sum := fmt.Sprintf("Faults %d on %d items · quarantined %d (by operators %d) · released %d · repaired %d · stalls %d detected, %d cleared",
		s.Faults, s.FaultyItems, s.Quarantined, s.QuarantinedByOps, s.Released, s.Repaired, s.StallsDetected, s.StallsCleared)
	if s.Drills > 0 {
		sum += fmt.Sprintf(" · drills %d", s.Drills)
	}
	if s.RevisionsDeleted > 0 {
		sum += fmt.Sprintf(" · revisions deleted %d", s.RevisionsDeleted)
	}
	if len(s.Operators) > 0 {
		sum += " · operators " + strings.Join(s.Operators, ", ")
	}
	out = append(out, sum)
	for _, sp := range s.Stalls {
		if sp.To != nil {
			out = append(out, fmt.Sprintf("Stall %s/%s (%s): %s to %s, %s", sp.Org, sp.Queue, sp.Cause, fmtClock(sp.From),
				fmtClock(*sp.To), fmtDur(time.Duration(sp.Seconds*float64(time.Second)))))
		} else {
			out = append(out, fmt.Sprintf("Stall %s/%s (%s): since %s, still open", sp.Org, sp.Queue, sp.Cause, fmtClock(sp.From)))
		}
	}
	out = append(out, "")
	if len(t.Entries) == 0 {
		return append(out, "Nothing happened in this window.")
	}
	for _, e := range t.Entries {
		when := fmtClock(e.At)
		if e.Until != nil {
			when += "–" + fmtClock(*e.Until)
		}
		where := e.Org
		if e.Queue != "" {
			where += "/" + e.Queue
		}
		who := e.Actor
		if e.Origin != "" && e.Origin != "local" {
			who += "@" + e.Origin
		}
		out = append(out, fmt.Sprintf("%s  %s  %s  (%s)", when, where, oneLine(e.Summary), who))
	}
	return out
}

// planLines renders a repair plan: every item with its source and verdict.
func planLines(p *ops.RepairPlan, scope string) []string {
	var out []string
	out = append(out, fmt.Sprintf("%d items in %s: %d repairable (%d from a fallback source), %d cannot be repaired",
		len(p.Items), scope, p.Repairable, p.Fallbacks, p.Unfixable))
	out = append(out, "Source journal is the exact lost attributes; earlier_revision and defaults are flagged fallbacks.")
	out = append(out, "")
	for _, it := range p.Items {
		src := it.Source
		if it.Fallback {
			src += " (FALLBACK)"
		}
		if it.SourceRevisionID != 0 {
			src += fmt.Sprintf(" rev %d", it.SourceRevisionID)
		}
		verdict := "valid"
		if !it.Valid {
			verdict = "INVALID: " + it.Error
		}
		attrs := oneLine(string(it.Attributes))
		if attrs == "" {
			attrs = "-"
		}
		out = append(out, fmt.Sprintf("item %s  %s/%s  %s  %s  source %s  verdict %s  attributes %s",
			it.Item, it.Org, it.Queue, it.State, it.Cause, src, verdict, attrs))
	}
	return out
}

// ---- full help ----

func (m Model) helpBody(h int) []string {
	hk := m.helpKeyMap()
	groups := hk.FullHelp()
	titles := []string{"Move", "Views", "More", "Actions"}
	type block []string
	var blocks []block
	// Actions first, so that they are seen even on a small terminal.
	order := []int{3, 1, 0, 2}
	for _, gi := range order {
		enabled := 0
		for _, b := range groups[gi] {
			if b.Enabled() {
				enabled++
			}
		}
		if enabled == 0 {
			continue
		}
		title := titles[gi]
		if gi == 3 && m.readOnly() {
			continue
		}
		bl := block{m.st.r(m.st.title, title)}
		bl = append(bl, strings.Split(m.help.FullHelpView([][]key.Binding{groups[gi]}), "\n")...)
		blocks = append(blocks, bl)
	}
	cmds := []string{":org NAME", ":stalled", ":all", ":timeline [ORG]", ":item ID"}
	if !m.readOnly() {
		cmds = append(cmds, ":quarantine ID [REASON]", ":release ID", ":pause ORG/QUEUE", ":resume ORG/QUEUE",
			":repair [ORG] [--allow-defaults]")
		if m.opts.Demo {
			cmds = append(cmds, ":drill [ORG] [COUNT]")
		}
	}
	cmds = append(cmds, ":q")
	cmdLines := wrap([]string{"Commands: " + strings.Join(cmds, " · ")}, m.width)

	// Pack the blocks into columns, top to bottom, left to right.
	rows := max(h-3-len(cmdLines), 6)
	var cols [][]string
	var col []string
	for _, bl := range blocks {
		if len(col) > 0 && len(col)+1+len(bl) > rows {
			cols = append(cols, col)
			col = nil
		}
		if len(col) > 0 {
			col = append(col, "")
		}
		col = append(col, bl...)
	}
	if len(col) > 0 {
		cols = append(cols, col)
	}
	widths := make([]int, len(cols))
	for i, c := range cols {
		for _, l := range c {
			widths[i] = max(widths[i], width(stripStyle(l)))
		}
	}
	out := []string{m.st.r(m.st.title, "Keys (? or esc closes the help)"), ""}
	for r := 0; r < rows; r++ {
		var b strings.Builder
		used := 0
		any := false
		for i, c := range cols {
			if used >= m.width {
				break
			}
			cell := ""
			if r < len(c) {
				cell, any = c[r], true
			}
			if i > 0 {
				b.WriteString("   ")
				used += 3
			}
			if i < len(cols)-1 {
				pad := widths[i] - width(stripStyle(cell))
				b.WriteString(cell + strings.Repeat(" ", max(pad, 0)))
				used += widths[i]
			} else {
				b.WriteString(cell)
				used += width(stripStyle(cell))
			}
		}
		if !any {
			break
		}
		line := strings.TrimRight(b.String(), " ")
		if width(stripStyle(line)) > m.width {
			line = truncStyled(line, m.width)
		}
		out = append(out, line)
	}
	out = append(out, "")
	return append(out, cmdLines...)
}
