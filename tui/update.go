package tui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// Update handles a message. It never queries anything itself: queries
// and actions come back as tea.Cmds.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
	case tea.ColorProfileMsg:
		if msg.Profile < colorprofile.ANSI && m.st.color {
			m.st = newStyles(false)
			m.help.Styles = m.st.helpStyles()
		}
	case tea.KeyPressMsg:
		cmd = m.handleKey(msg)
	case tea.PasteMsg:
		if m.mode != inputNone && m.confirm == nil {
			m.input = append(m.input, []rune(oneLine(msg.Content))...)
			if m.mode == inputFilter {
				m.applyFilter(string(m.input))
			}
		}
	case tickMsg:
		cmd = tea.Batch(tickCmd(m.opts.Refresh), m.refresh(false))
	case snapMsg:
		cmd = m.onSnapshot(msg)
	case orgDataMsg:
		m.onOrgData(msg)
	case itemMsg:
		m.onItem(msg)
	case timelineMsg:
		m.onTimeline(msg)
	case planMsg:
		m.onPlan(msg)
	case actionMsg:
		cmd = m.onAction(msg)
	case incidentDueMsg:
		cmd = m.onIncidentDue()
	case incidentMsg:
		cmd = m.onIncident(msg)
	}
	return m, cmd
}

// ---- refresh and data ----

// refresh starts a snapshot unless one is running (then it runs again
// right after). A manual refresh also reloads the timeline.
func (m *Model) refresh(manual bool) tea.Cmd {
	var cmds []tea.Cmd
	if m.fetching {
		m.again = m.again || manual
	} else {
		m.fetching, m.fetchSince = true, m.clock.Now()
		cmds = append(cmds, m.fetchSnapshot())
	}
	if manual && m.view == viewTimeline {
		cmds = append(cmds, m.fetchTimeline(m.tl.org))
	}
	return tea.Batch(cmds...)
}

func (m *Model) onSnapshot(msg snapMsg) tea.Cmd {
	m.fetching = false
	var cmds []tea.Cmd
	if msg.err != nil || msg.snap == nil {
		if m.failures == 0 {
			m.failSince = m.clock.Now()
		}
		m.failures++
		if msg.err != nil {
			m.lastErr = oneLine(msg.err.Error())
		}
	} else {
		m.failures, m.lastErr = 0, ""
		m.applySnapshot(msg.snap)
		if msg.stats != nil {
			m.stats = msg.stats
		}
		switch m.view {
		case viewOrg:
			cmds = append(cmds, m.reloadOrg())
		case viewItem:
			cmds = append(cmds, m.fetchItem(m.item.org, m.item.id))
		}
		if m.incidentWait {
			m.incidentWait = false
			cmds = append(cmds, m.startIncident())
		}
	}
	if m.again {
		m.again = false
		m.fetching, m.fetchSince = true, m.clock.Now()
		cmds = append(cmds, m.fetchSnapshot())
	}
	return tea.Batch(cmds...)
}

// applySnapshot swaps in a snapshot: rows, filter, selection.
func (m *Model) applySnapshot(snap *ops.Snapshot) {
	follow := ""
	if m.fleet.cursor > 0 {
		if r := m.fleetRowAt(m.fleet.cursor); r != nil {
			follow = r.org
		}
	}
	m.snap = snap
	m.rows = buildRows(snap, m.trends)
	w := 3
	for i := range m.rows {
		if n := len(m.rows[i].org); n > w {
			w = n
		}
	}
	m.orgW = w
	m.fleet.idx = filterRows(m.rows, m.fleet.filter, m.fleet.stalledOnly)
	// The top row stays selected, so the worst org is always under the
	// cursor; a selection further down follows its org.
	if follow != "" {
		n := m.fleetLen()
		for i := 0; i < n; i++ {
			if m.fleetRowAt(i).org == follow {
				m.fleet.cursor = i
				break
			}
		}
	}
	m.fleet.cursor = clamp(m.fleet.cursor, 0, m.fleetLen()-1)
	if m.org.name != "" {
		m.org.oh = m.findOrg(m.org.name)
		m.syncQueue()
	}
}

func (m *Model) findOrg(name string) *ops.OrgHealth {
	if m.snap == nil {
		return nil
	}
	for i := range m.snap.Orgs {
		if m.snap.Orgs[i].Org == name {
			return &m.snap.Orgs[i]
		}
	}
	return nil
}

func (m *Model) fleetLen() int {
	if m.fleet.idx != nil {
		return len(m.fleet.idx)
	}
	return len(m.rows)
}

func (m *Model) fleetRowAt(i int) *fleetRow {
	if i < 0 || i >= m.fleetLen() {
		return nil
	}
	if m.fleet.idx != nil {
		return &m.rows[m.fleet.idx[i]]
	}
	return &m.rows[i]
}

func (m *Model) selectedOrg() *ops.OrgHealth {
	r := m.fleetRowAt(m.fleet.cursor)
	if r == nil || m.snap == nil {
		return nil
	}
	return &m.snap.Orgs[r.snapIdx]
}

// syncQueue keeps the org view's queue selection on the same queue across
// snapshots.
func (m *Model) syncQueue() {
	oh := m.org.oh
	if oh == nil || len(oh.Queues) == 0 {
		m.org.qCursor = 0
		return
	}
	for i := range oh.Queues {
		if oh.Queues[i].Queue == m.org.queue {
			m.org.qCursor = i
			return
		}
	}
	m.org.qCursor = clamp(m.org.qCursor, 0, len(oh.Queues)-1)
	m.org.queue = oh.Queues[m.org.qCursor].Queue
}

func (m *Model) selectedQueue() *ops.QueueHealth {
	oh := m.org.oh
	if oh == nil || m.org.qCursor < 0 || m.org.qCursor >= len(oh.Queues) {
		return nil
	}
	return &oh.Queues[m.org.qCursor]
}

// reloadOrg reloads the selected queue's items (as many as are loaded, so
// the window keeps its place) and the agents.
func (m *Model) reloadOrg() tea.Cmd {
	limit := clamp(len(m.org.items), itemsPage, maxItems)
	m.org.loading = true
	return m.fetchOrgData(0, limit)
}

func (m *Model) onOrgData(msg orgDataMsg) {
	if msg.org != m.org.name {
		return
	}
	current := msg.key == itemsKey(m.org.name, m.org.queue, m.org.state)
	if current {
		m.org.loading = false
	}
	if msg.err != nil {
		m.org.err = oneLine(msg.err.Error())
		return
	}
	m.org.err = ""
	if !msg.more {
		m.org.agents = msg.agents
		m.org.aCursor = clamp(m.org.aCursor, 0, len(m.org.agents)-1)
	}
	if !current || msg.page == nil {
		if msg.page == nil && !msg.more && m.org.queue == "" {
			m.org.items, m.org.next, m.org.key, m.org.idx = nil, 0, msg.key, nil
		}
		return
	}
	if msg.more {
		if m.org.key != msg.key {
			return
		}
		// A reload may have landed in between: append only what is new.
		var last int64
		if n := len(m.org.items); n > 0 {
			last = m.org.items[n-1].ID
		}
		for _, it := range msg.page.Items {
			if it.ID > last {
				m.org.items = append(m.org.items, it)
			}
		}
	} else {
		var keep int64
		if it := m.selectedItem(); it != nil {
			keep = it.ID
		}
		m.org.items = msg.page.Items
		m.org.key = msg.key
		m.org.idx = filterItems(m.org.items, m.org.filter)
		if keep != 0 {
			for i := 0; i < m.itemsLen(); i++ {
				if m.itemAt(i).ID == keep {
					m.org.iCursor = i
					break
				}
			}
		}
	}
	m.org.next = msg.page.Next
	m.org.idx = filterItems(m.org.items, m.org.filter)
	m.org.iCursor = clamp(m.org.iCursor, 0, m.itemsLen()-1)
}

func filterItems(items []router.WorkItem, filter string) []int32 {
	if filter == "" {
		return nil
	}
	out := make([]int32, 0, 16)
	for i := range items {
		it := &items[i]
		if strings.Contains(strconv.FormatInt(it.ID, 10), filter) ||
			strings.Contains(strings.ToLower(it.LastError), filter) ||
			strings.Contains(string(it.FaultCause), filter) || strings.Contains(it.AgentID, filter) {
			out = append(out, int32(i))
		}
	}
	return out
}

func (m *Model) itemsLen() int {
	if m.org.idx != nil {
		return len(m.org.idx)
	}
	return len(m.org.items)
}

func (m *Model) itemAt(i int) *router.WorkItem {
	if i < 0 || i >= m.itemsLen() {
		return nil
	}
	if m.org.idx != nil {
		return &m.org.items[m.org.idx[i]]
	}
	return &m.org.items[i]
}

func (m *Model) selectedItem() *router.WorkItem {
	if m.org.key != itemsKey(m.org.name, m.org.queue, m.org.state) {
		return nil
	}
	return m.itemAt(m.org.iCursor)
}

func (m *Model) onItem(msg itemMsg) {
	if m.item.id != msg.id {
		return
	}
	if msg.err != nil {
		m.item.err = oneLine(msg.err.Error())
		if m.item.detail == nil {
			m.item.text = newText([]string{"item " + router.FormatItemID(msg.id) + ": " + m.item.err})
		}
		return
	}
	m.item.err = ""
	m.item.detail = msg.detail
	if m.item.org == "" {
		m.item.org = msg.detail.Item.OrgID
	}
	off := m.item.text.off
	m.item.text = newText(itemLines(msg.detail, m.clock.Now()))
	m.item.text.off = off
}

func (m *Model) onTimeline(msg timelineMsg) {
	if msg.org != m.tl.org {
		return
	}
	if msg.err != nil {
		m.tl.err = oneLine(msg.err.Error())
		m.tl.text = newText([]string{"timeline: " + m.tl.err})
		return
	}
	off := m.tl.text.off
	m.tl.tl, m.tl.err = msg.tl, ""
	m.tl.text = newText(timelineLines(msg.tl))
	if m.tl.tl != nil && off > 0 {
		m.tl.text.off = off
	}
}

func (m *Model) onPlan(msg planMsg) {
	if msg.err != nil {
		m.setStatus(statusErr, "repair plan failed: "+msg.err.Error())
		return
	}
	scope := scopeName(msg.org)
	p := msg.plan
	if p == nil || len(p.Items) == 0 {
		m.setStatus(statusOK, "repair: nothing to repair in "+scope+" (no item has a missing or invalid current revision)")
		return
	}
	m.repair = repairState{org: msg.org, allowDefaults: msg.allowDefaults, plan: p, text: newText(planLines(p, scope))}
	if m.view != viewRepair {
		m.pushView(viewRepair)
	}
	if p.Repairable == 0 {
		m.setStatus(statusErr, fmt.Sprintf("repair: none of the %d items can be repaired from a surviving copy; :repair %s--allow-defaults rebuilds them from defaults",
			len(p.Items), orgArg(msg.org)))
		return
	}
	prompt := fmt.Sprintf("Apply repair to %d items", p.Repairable)
	if p.Fallbacks > 0 {
		prompt += fmt.Sprintf(" (%d from a fallback source)", p.Fallbacks)
	}
	if p.Unfixable > 0 {
		prompt += fmt.Sprintf("; %d cannot be repaired and stay untouched", p.Unfixable)
	}
	m.confirm = &confirmState{action: "repair", prompt: prompt + "?", cmd: m.applyRepairCmd(p)}
}

func scopeName(org string) string {
	if org == "" {
		return "all orgs"
	}
	return org
}

func orgArg(org string) string {
	if org == "" {
		return ""
	}
	return org + " "
}

func (m *Model) onAction(msg actionMsg) tea.Cmd {
	if m.busy > 0 {
		m.busy--
	}
	if m.busy == 0 {
		m.busyWhat = ""
	}
	if msg.err != nil {
		text := msg.err.Error()
		if !strings.Contains(text, msg.action) {
			text = msg.action + " failed: " + text
		}
		m.setStatus(statusErr, text)
	} else {
		m.setStatus(statusOK, msg.text)
	}
	if msg.done && m.view == viewRepair {
		m.confirm = nil
		m.popView()
	}
	cmds := []tea.Cmd{m.refresh(true)}
	if m.view == viewItem {
		cmds = append(cmds, m.fetchItem(m.item.org, m.item.id))
	}
	return tea.Batch(cmds...)
}

func (m *Model) onIncidentDue() tea.Cmd {
	if m.opts.Incident == nil {
		return nil
	}
	if m.opts.Incident.Org == "" && m.snap == nil {
		m.incidentWait = true
		m.setStatus(statusInfo, "incident: waiting for the first snapshot")
		return nil
	}
	return m.startIncident()
}

// incidentTries bounds how many snapshots the incident waits for queued
// items to break.
const incidentTries = 60

func (m *Model) onIncident(msg incidentMsg) tea.Cmd {
	switch {
	case msg.err != nil:
		m.setStatus(statusErr, fmt.Sprintf("incident drill on %s failed: %v", msg.plan.Org, msg.err))
	case len(msg.ids) == 0 && m.incidentTries < incidentTries:
		// Nothing queued to break yet: try again after the next snapshot.
		m.incidentTries++
		m.incidentWait = true
		m.setStatus(statusInfo, "incident: no queued items in "+msg.plan.Org+" yet; retrying")
	default:
		m.setStatus(statusOK, "incident: "+drillText(msg.plan.Kind, msg.plan.Org, msg.ids))
		return m.refresh(true)
	}
	return nil
}

// startIncident injects the --incident drill, into the named org or else
// the one ops.IncidentOrg picks from the snapshot.
func (m *Model) startIncident() tea.Cmd {
	plan := *m.opts.Incident
	if plan.Org == "" {
		plan.Org = ops.IncidentOrg(m.snap)
	}
	if plan.Org == "" {
		m.setStatus(statusErr, "incident: no org to inject into")
		return nil
	}
	m.setStatus(statusInfo, fmt.Sprintf("incident: injecting %s into %s…", plan.Kind, plan.Org))
	return m.incidentCmd(plan)
}

// ---- views ----

func (m *Model) pushView(v viewKind) {
	if m.view == v {
		return
	}
	m.stack = append(m.stack, m.view)
	m.view = v
}

// popView goes back one view; back in the org view its data is reloaded.
func (m *Model) popView() tea.Cmd {
	if len(m.stack) == 0 {
		m.view = viewFleet
		return nil
	}
	m.view = m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	if m.view == viewOrg {
		return m.reloadOrg()
	}
	return nil
}

func (m *Model) toFleet() {
	m.view, m.stack = viewFleet, nil
}

// openOrg opens the org view on the org's first stalled queue (else its
// worst queue).
func (m *Model) openOrg(name string) tea.Cmd {
	oh := m.findOrg(name)
	if oh == nil && m.snap != nil {
		m.setStatus(statusErr, "no org "+name+" in the snapshot")
		return nil
	}
	m.org = orgState{name: name, oh: oh, state: router.StateQueued}
	if oh != nil && len(oh.Queues) > 0 {
		best := 0
		for i := range oh.Queues {
			q := &oh.Queues[i]
			b := &oh.Queues[best]
			if q.Stalled && !b.Stalled || (q.Stalled == b.Stalled && healthRank(q.Health) > healthRank(b.Health)) {
				best = i
			}
		}
		m.org.qCursor = best
		m.org.queue = oh.Queues[best].Queue
	}
	if m.view != viewOrg {
		if m.view != viewFleet {
			m.toFleet()
		}
		m.pushView(viewOrg)
	}
	m.org.loading = true
	return m.fetchOrgData(0, itemsPage)
}

func healthRank(h ops.Health) int {
	switch h {
	case ops.HealthCritical:
		return 2
	case ops.HealthWarning:
		return 1
	}
	return 0
}

func (m *Model) openItem(org string, id int64) tea.Cmd {
	m.item = itemState{org: org, id: id, text: newText([]string{"loading item " + router.FormatItemID(id) + "…"})}
	m.pushView(viewItem)
	return m.fetchItem(org, id)
}

func (m *Model) openTimeline(org string) tea.Cmd {
	m.tl = timelineState{org: org, text: newText([]string{"loading the timeline of " + scopeName(org) + "…"})}
	m.pushView(viewTimeline)
	return m.fetchTimeline(org)
}

// contextOrg is the org the current view is about ("" in the fleet view).
func (m *Model) contextOrg() string {
	switch m.view {
	case viewOrg:
		return m.org.name
	case viewItem:
		if m.item.org != "" {
			return m.item.org
		}
		if m.item.detail != nil {
			return m.item.detail.Item.OrgID
		}
	case viewTimeline:
		return m.tl.org
	case viewRepair:
		return m.repair.org
	}
	return ""
}

// ---- keys ----

func isNav(k tea.KeyPressMsg, km keyMap) bool {
	return key.Matches(k, km.Up, km.Down, km.PageUp, km.PageDown, km.Home, km.End)
}

func (m *Model) handleKey(k tea.KeyPressMsg) tea.Cmd {
	if key.Matches(k, m.keys.ForceQuit) {
		return tea.Quit
	}
	if m.confirm != nil {
		return m.handleConfirm(k)
	}
	if m.mode != inputNone {
		return m.handleInput(k)
	}
	if m.tooSmall() {
		if key.Matches(k, m.keys.Quit) {
			return m.quit()
		}
		return nil
	}
	if m.showHelp {
		switch {
		case key.Matches(k, m.keys.Quit):
			return m.quit()
		case key.Matches(k, m.keys.Help, m.keys.Back):
			m.showHelp = false
		}
		return nil
	}
	switch {
	case key.Matches(k, m.keys.Quit):
		return m.quit()
	case key.Matches(k, m.keys.Help):
		m.showHelp = true
		return nil
	case key.Matches(k, m.keys.Command):
		m.mode, m.input = inputCommand, nil
		return nil
	case key.Matches(k, m.keys.Filter):
		return m.startFilter()
	case key.Matches(k, m.keys.Refresh):
		m.setStatus(statusInfo, "refreshing…")
		return m.refresh(true)
	case key.Matches(k, m.keys.Timeline):
		return m.openTimeline(m.contextOrg())
	case key.Matches(k, m.keys.Quarantine):
		return m.askQuarantine(0, "", "")
	case key.Matches(k, m.keys.Release):
		return m.askRelease(0, "")
	case key.Matches(k, m.keys.Repair):
		return m.askRepair(m.contextOrg(), false)
	case key.Matches(k, m.keys.Pause):
		return m.askPause()
	case key.Matches(k, m.keys.Drill):
		org := m.contextOrg()
		if org == "" {
			if oh := m.selectedOrg(); oh != nil {
				org = oh.Org
			}
		}
		return m.askDrill(org, 3, ops.DrillMissingRevisions)
	case key.Matches(k, m.keys.Back):
		return m.back()
	case key.Matches(k, m.keys.Item) && m.view != viewItem:
		org, id, _, err := m.targetItem(false)
		if err != nil {
			m.setStatus(statusErr, err.Error())
			return nil
		}
		return m.openItem(org, id)
	}
	switch m.view {
	case viewFleet:
		return m.fleetKey(k)
	case viewOrg:
		return m.orgKey(k)
	case viewItem:
		m.textKey(&m.item.text, k)
	case viewTimeline:
		m.textKey(&m.tl.text, k)
	case viewRepair:
		m.textKey(&m.repair.text, k)
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	if m.busy > 0 {
		m.confirm = &confirmState{quit: true, action: "quit",
			prompt: fmt.Sprintf("%s is still running. Quit anyway?", m.busyWhat)}
		return nil
	}
	return tea.Quit
}

func (m *Model) back() tea.Cmd {
	if m.view == viewFleet {
		if m.fleet.filter != "" || m.fleet.stalledOnly {
			m.fleet.filter, m.fleet.stalledOnly = "", false
			m.refilterFleet()
			m.setStatus(statusInfo, "filter cleared")
		}
		return nil
	}
	if m.view == viewOrg && m.org.filter != "" {
		m.org.filter = ""
		m.org.idx = nil
		m.setStatus(statusInfo, "item filter cleared")
		return nil
	}
	return m.popView()
}

func (m *Model) handleConfirm(k tea.KeyPressMsg) tea.Cmd {
	c := m.confirm
	if s := k.String(); s == "y" || s == "Y" {
		m.confirm = nil
		if c.quit {
			return tea.Quit
		}
		m.busy++
		m.busyWhat = c.action
		m.setStatus(statusInfo, c.action+": working…")
		return c.cmd
	}
	// The plan under a repair question can be scrolled before answering.
	if c.action == "repair" && m.view == viewRepair && isNav(k, m.keys) {
		m.textKey(&m.repair.text, k)
		return nil
	}
	m.confirm = nil
	if c.quit {
		m.setStatus(statusInfo, "quit cancelled")
	} else {
		m.setStatus(statusInfo, c.action+" cancelled; nothing changed")
	}
	return nil
}

// startFilter opens the / prompt on the fleet's org rows, or on the org
// view's items.
func (m *Model) startFilter() tea.Cmd {
	switch {
	case m.view == viewFleet:
		m.mode, m.input = inputFilter, []rune(m.fleet.filter)
	case m.view == viewOrg:
		m.org.focus = paneItems
		m.mode, m.input = inputFilter, []rune(m.org.filter)
	default:
		m.setStatus(statusInfo, "/ filters the fleet's orgs and the org view's items")
	}
	return nil
}

func (m *Model) handleInput(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "enter":
		mode := m.mode
		m.mode = inputNone
		if mode == inputCommand {
			line := string(m.input)
			m.input = nil
			return m.runCommand(line)
		}
		return nil
	case "esc":
		if m.mode == inputFilter {
			m.input = nil
			m.applyFilter("")
		}
		m.mode, m.input = inputNone, nil
		return nil
	case "backspace", "ctrl+h":
		if len(m.input) > 0 {
			m.input = m.input[:len(m.input)-1]
		} else if m.mode == inputCommand {
			m.mode = inputNone
			return nil
		}
	case "ctrl+u":
		m.input = nil
	case "ctrl+w":
		s := strings.TrimRight(string(m.input), " ")
		if i := strings.LastIndex(s, " "); i >= 0 {
			m.input = []rune(s[:i+1])
		} else {
			m.input = nil
		}
	default:
		if k.Text == "" || k.Mod.Contains(tea.ModCtrl) || k.Mod.Contains(tea.ModAlt) {
			return nil
		}
		if len(m.input) < 200 {
			m.input = append(m.input, []rune(k.Text)...)
		}
	}
	if m.mode == inputFilter {
		m.applyFilter(string(m.input))
	}
	return nil
}

func (m *Model) applyFilter(s string) {
	s = strings.ToLower(strings.TrimSpace(s))
	if m.view == viewOrg {
		m.org.filter = s
		m.org.idx = filterItems(m.org.items, s)
		m.org.iCursor, m.org.iOffset = 0, 0
		return
	}
	m.fleet.filter = s
	m.refilterFleet()
}

func (m *Model) refilterFleet() {
	m.fleet.idx = filterRows(m.rows, m.fleet.filter, m.fleet.stalledOnly)
	m.fleet.cursor, m.fleet.offset = 0, 0
}

// moveCursor applies a navigation key to a cursor over n rows, with a page
// of page rows.
func (m *Model) moveCursor(k tea.KeyPressMsg, cursor, n, page int) int {
	page = max(page, 1)
	switch {
	case key.Matches(k, m.keys.Up):
		cursor--
	case key.Matches(k, m.keys.Down):
		cursor++
	case key.Matches(k, m.keys.PageUp):
		cursor -= page
	case key.Matches(k, m.keys.PageDown):
		cursor += page
	case key.Matches(k, m.keys.Home):
		cursor = 0
	case key.Matches(k, m.keys.End):
		cursor = n - 1
	}
	return clamp(cursor, 0, n-1)
}

func scrollTo(cursor, offset, rows int) int {
	if rows <= 0 {
		return 0
	}
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+rows {
		offset = cursor - rows + 1
	}
	return max(offset, 0)
}

func (m *Model) fleetKey(k tea.KeyPressMsg) tea.Cmd {
	switch {
	case isNav(k, m.keys):
		rows := m.fleetRows()
		m.fleet.cursor = m.moveCursor(k, m.fleet.cursor, m.fleetLen(), rows)
		m.fleet.offset = scrollTo(m.fleet.cursor, m.fleet.offset, rows)
	case key.Matches(k, m.keys.Open):
		if r := m.fleetRowAt(m.fleet.cursor); r != nil {
			return m.openOrg(r.org)
		}
	}
	return nil
}

func (m *Model) orgKey(k tea.KeyPressMsg) tea.Cmd {
	lay := m.orgLayout()
	switch {
	case key.Matches(k, m.keys.Tab):
		if k.String() == "shift+tab" {
			m.org.focus = (m.org.focus + 2) % 3
		} else {
			m.org.focus = (m.org.focus + 1) % 3
		}
	case isNav(k, m.keys):
		switch m.org.focus {
		case paneQueues:
			n := 0
			if m.org.oh != nil {
				n = len(m.org.oh.Queues)
			}
			c := m.moveCursor(k, m.org.qCursor, n, lay.qRows)
			if n > 0 && c != m.org.qCursor {
				m.org.qCursor = c
				return m.selectQueue(m.org.oh.Queues[c].Queue)
			}
		case paneItems:
			m.org.iCursor = m.moveCursor(k, m.org.iCursor, m.itemsLen(), lay.iRows)
			m.org.iOffset = scrollTo(m.org.iCursor, m.org.iOffset, lay.iRows)
			return m.maybeMoreItems()
		case paneAgents:
			m.org.aCursor = m.moveCursor(k, m.org.aCursor, len(m.org.agents), lay.aRows)
			m.org.aOffset = scrollTo(m.org.aCursor, m.org.aOffset, lay.aRows)
		}
	case key.Matches(k, m.keys.Open):
		switch m.org.focus {
		case paneQueues:
			m.org.focus = paneItems
		case paneItems:
			if it := m.selectedItem(); it != nil {
				return m.openItem(it.OrgID, it.ID)
			}
		}
	case key.Matches(k, m.keys.State):
		next := map[router.ItemState]router.ItemState{
			router.StateQueued: router.StateQuarantined, router.StateQuarantined: router.StateAssigned,
			router.StateAssigned: router.StateQueued,
		}[m.org.state]
		if next == "" {
			next = router.StateQueued
		}
		m.org.state = next
		m.org.focus = paneItems
		m.resetItems()
		m.org.loading = true
		m.setStatus(statusInfo, "items: showing "+string(next))
		return m.fetchOrgData(0, itemsPage)
	}
	return nil
}

func (m *Model) resetItems() {
	m.org.items, m.org.idx, m.org.next, m.org.key = nil, nil, 0, ""
	m.org.iCursor, m.org.iOffset = 0, 0
}

func (m *Model) selectQueue(q string) tea.Cmd {
	m.org.queue = q
	m.resetItems()
	m.org.loading = true
	return m.fetchOrgData(0, itemsPage)
}

// maybeMoreItems loads the next page when the cursor nears the end of the
// loaded window.
func (m *Model) maybeMoreItems() tea.Cmd {
	if m.org.loading || m.org.next == 0 || len(m.org.items) >= maxItems || m.org.filter != "" {
		return nil
	}
	if m.org.iCursor < len(m.org.items)-m.orgLayout().iRows-5 {
		return nil
	}
	m.org.loading = true
	return m.fetchOrgData(m.org.next, itemsPage)
}

func (m *Model) textKey(t *textState, k tea.KeyPressMsg) {
	rows := m.bodyHeight() - 1
	n := len(t.wrapped(max(m.width, 1)))
	maxOff := max(n-rows, 0)
	switch {
	case key.Matches(k, m.keys.Up):
		t.off--
	case key.Matches(k, m.keys.Down):
		t.off++
	case key.Matches(k, m.keys.PageUp):
		t.off -= rows
	case key.Matches(k, m.keys.PageDown):
		t.off += rows
	case key.Matches(k, m.keys.Home):
		t.off = 0
	case key.Matches(k, m.keys.End):
		t.off = maxOff
	}
	t.off = clamp(t.off, 0, maxOff)
}

// ---- actions ----

func (m *Model) refuse(action string) tea.Cmd {
	m.setStatus(statusErr, (&ops.ReadOnlyError{Action: action}).Error())
	return nil
}

// targetItem is the item an item action applies to: the item view's item;
// in the org view the selected item row, or else the selected queue's
// head; in the fleet view the head of the selected org's stalled queue.
func (m *Model) targetItem(release bool) (org string, id int64, desc string, err error) {
	switch m.view {
	case viewItem:
		if d := m.item.detail; d != nil {
			it := &d.Item
			return it.OrgID, it.ID, fmt.Sprintf("%s/%s, %s", it.OrgID, it.QueueID, it.State), nil
		}
		return m.item.org, m.item.id, m.item.org, nil
	case viewOrg:
		if m.org.focus == paneItems {
			if it := m.selectedItem(); it != nil {
				return it.OrgID, it.ID, fmt.Sprintf("%s/%s, %s, attempts %d", it.OrgID, it.QueueID, it.State, it.Attempts), nil
			}
		}
		if release {
			return "", 0, "", fmt.Errorf("release: pick a quarantined item: tab to the items, s shows quarantined ones (or :release ID)")
		}
		q := m.selectedQueue()
		if q == nil {
			return "", 0, "", fmt.Errorf("no queue selected")
		}
		return headTarget(m.org.name, q)
	case viewFleet:
		if release {
			return "", 0, "", fmt.Errorf("release: open the org (enter) and pick a quarantined item, or :release ID")
		}
		oh := m.selectedOrg()
		if oh != nil {
			for i := range oh.Queues {
				if q := &oh.Queues[i]; q.Stalled && q.Head != nil {
					return headTarget(oh.Org, q)
				}
			}
		}
		return "", 0, "", fmt.Errorf("no stalled head here: open the org (enter) and pick a queue or an item")
	}
	return "", 0, "", fmt.Errorf("no item selected here")
}

func headTarget(org string, q *ops.QueueHealth) (string, int64, string, error) {
	if q.Head == nil {
		return "", 0, "", fmt.Errorf("queue %s/%s has no head item (nothing queued)", org, q.Queue)
	}
	id, err := router.ParseItemID(q.Head.Item)
	if err != nil {
		return "", 0, "", err
	}
	desc := fmt.Sprintf("head of %s/%s, waited %s, attempts %d", org, q.Queue, fmtAge(q.Head.AgeSeconds), q.Head.Attempts)
	if q.Stalled {
		desc += ", STALLED " + string(q.Cause)
	}
	return org, id, desc, nil
}

func (m *Model) defaultReason() string {
	op := m.opts.Operator
	if op == "" {
		op = "operator"
	}
	return "quarantined from console by " + op
}

// askQuarantine asks before quarantining the target item (or id, from
// the command line).
func (m *Model) askQuarantine(id int64, org, reason string) tea.Cmd {
	if m.readOnly() {
		return m.refuse("quarantine")
	}
	desc := ""
	if id == 0 {
		var err error
		org, id, desc, err = m.targetItem(false)
		if err != nil {
			m.setStatus(statusErr, "quarantine: "+err.Error())
			return nil
		}
	}
	if reason == "" {
		reason = m.defaultReason()
	}
	prompt := fmt.Sprintf("Quarantine item %d", id)
	if desc != "" {
		prompt += " (" + desc + ")"
	}
	m.confirm = &confirmState{action: "quarantine", prompt: prompt + "? reason: " + reason,
		cmd: m.quarantineCmd(org, id, reason)}
	return nil
}

func (m *Model) askRelease(id int64, org string) tea.Cmd {
	if m.readOnly() {
		return m.refuse("release")
	}
	desc := ""
	if id == 0 {
		var err error
		org, id, desc, err = m.targetItem(true)
		if err != nil {
			m.setStatus(statusErr, err.Error())
			return nil
		}
	}
	prompt := fmt.Sprintf("Release item %d", id)
	if desc != "" {
		prompt += " (" + desc + ")"
	}
	m.confirm = &confirmState{action: "release", prompt: prompt + " back to its queue, in its original place?",
		cmd: m.releaseCmd(org, id)}
	return nil
}

func (m *Model) askPause() tea.Cmd {
	if m.readOnly() {
		return m.refuse("pause")
	}
	if m.view != viewOrg {
		m.setStatus(statusErr, "pause: select a queue in the org view (enter on an org), or :pause ORG/QUEUE")
		return nil
	}
	q := m.selectedQueue()
	if q == nil {
		m.setStatus(statusErr, "pause: no queue selected")
		return nil
	}
	return m.askSetPaused(router.QueueRef{Org: m.org.name, Queue: q.Queue}, !q.Paused, q.Depth)
}

func (m *Model) askSetPaused(ref router.QueueRef, pause bool, depth int) tea.Cmd {
	verb := "resume"
	if pause {
		verb = "pause"
	}
	if m.readOnly() {
		return m.refuse(verb)
	}
	prompt := fmt.Sprintf("Resume queue %s? Routing starts again.", ref)
	if pause {
		prompt = fmt.Sprintf("Pause queue %s? Routing stops for its %d waiting items until resumed.", ref, depth)
	}
	m.confirm = &confirmState{action: verb, prompt: prompt, cmd: m.pauseCmd(ref, pause)}
	return nil
}

// askRepair plans first (a read, in a Cmd); the plan view then asks before
// applying.
func (m *Model) askRepair(org string, allowDefaults bool) tea.Cmd {
	if m.readOnly() {
		return m.refuse("repair")
	}
	m.setStatus(statusInfo, "planning the repair of "+scopeName(org)+"…")
	return m.fetchPlan(org, allowDefaults)
}

func (m *Model) askDrill(org string, count int, kind string) tea.Cmd {
	if !m.opts.Demo {
		m.setStatus(statusErr, "drill: only on the embedded demo (routeops demo); on a database use routeops drill with drill.allow")
		return nil
	}
	if m.readOnly() {
		return m.refuse("drill")
	}
	if org == "" {
		m.setStatus(statusErr, "drill: select an org first")
		return nil
	}
	what := "delete the revisions of"
	if kind == ops.DrillCorruptRevisions {
		what = "corrupt"
	}
	m.confirm = &confirmState{action: "drill",
		prompt: fmt.Sprintf("DRILL %s on %s: %s up to %d items?", kind, org, what, count),
		cmd:    m.drillCmd(kind, org, count)}
	return nil
}

// ---- the : command line ----

const commandHelp = "commands: :org NAME, :stalled, :all, :timeline [ORG], :item ID, :quarantine ID [REASON], " +
	":release ID, :pause ORG/QUEUE, :resume ORG/QUEUE, :repair [ORG] [--allow-defaults], :drill [ORG] [COUNT], :q"

func (m *Model) runCommand(line string) tea.Cmd {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	cmd, args := strings.ToLower(f[0]), f[1:]
	switch cmd {
	case "q", "quit", "exit":
		return m.quit()
	case "q!", "quit!":
		return tea.Quit
	case "help", "h":
		m.showHelp = true
	case "org", "o":
		if len(args) != 1 {
			m.setStatus(statusErr, "usage: :org NAME")
			return nil
		}
		name, err := m.matchOrg(args[0])
		if err != nil {
			m.setStatus(statusErr, err.Error())
			return nil
		}
		return m.openOrg(name)
	case "stalled":
		m.toFleet()
		m.fleet.stalledOnly, m.fleet.filter = true, ""
		m.refilterFleet()
		if n := m.fleetLen(); n == 0 {
			m.setStatus(statusOK, "no stalled queues; esc shows every org")
		} else {
			m.setStatus(statusInfo, fmt.Sprintf("%d orgs with stalled queues; esc shows every org", n))
		}
	case "all", "clear", "fleet":
		m.toFleet()
		m.fleet.stalledOnly, m.fleet.filter = false, ""
		m.refilterFleet()
		m.setStatus(statusInfo, "showing every org")
	case "timeline", "tl":
		org := m.contextOrg()
		if len(args) > 0 {
			if args[0] == "all" {
				org = ""
			} else {
				var err error
				if org, err = m.matchOrg(args[0]); err != nil {
					m.setStatus(statusErr, err.Error())
					return nil
				}
			}
		}
		return m.openTimeline(org)
	case "item", "i":
		if len(args) != 1 {
			m.setStatus(statusErr, "usage: :item ID")
			return nil
		}
		id, err := router.ParseItemID(args[0])
		if err != nil {
			m.setStatus(statusErr, err.Error())
			return nil
		}
		return m.openItem("", id)
	case "quarantine", "x":
		if len(args) < 1 {
			m.setStatus(statusErr, "usage: :quarantine ID [REASON]")
			return nil
		}
		id, err := router.ParseItemID(args[0])
		if err != nil {
			m.setStatus(statusErr, err.Error())
			return nil
		}
		return m.askQuarantine(id, "", strings.Join(args[1:], " "))
	case "release", "u":
		if len(args) != 1 {
			m.setStatus(statusErr, "usage: :release ID")
			return nil
		}
		id, err := router.ParseItemID(args[0])
		if err != nil {
			m.setStatus(statusErr, err.Error())
			return nil
		}
		return m.askRelease(id, "")
	case "pause", "resume":
		if len(args) != 1 {
			m.setStatus(statusErr, "usage: :"+cmd+" ORG/QUEUE")
			return nil
		}
		ref, err := router.ParseQueueRef(args[0])
		if err != nil {
			m.setStatus(statusErr, err.Error())
			return nil
		}
		depth := 0
		if oh := m.findOrg(ref.Org); oh != nil {
			for _, q := range oh.Queues {
				if q.Queue == ref.Queue {
					depth = q.Depth
				}
			}
		}
		return m.askSetPaused(ref, cmd == "pause", depth)
	case "repair":
		org, defaults := m.contextOrg(), false
		for _, a := range args {
			switch a {
			case "--allow-defaults", "-d", "defaults":
				defaults = true
			case "all", "--all":
				org = ""
			default:
				name, err := m.matchOrg(a)
				if err != nil {
					m.setStatus(statusErr, err.Error())
					return nil
				}
				org = name
			}
		}
		return m.askRepair(org, defaults)
	case "drill":
		org, count, kind := m.contextOrg(), 3, ops.DrillMissingRevisions
		if org == "" {
			if oh := m.selectedOrg(); oh != nil {
				org = oh.Org
			}
		}
		for _, a := range args {
			if n, err := strconv.Atoi(a); err == nil {
				count = n
			} else if a == ops.DrillMissingRevisions || a == ops.DrillCorruptRevisions {
				kind = a
			} else if name, err := m.matchOrg(a); err == nil {
				org = name
			} else {
				m.setStatus(statusErr, err.Error())
				return nil
			}
		}
		return m.askDrill(org, count, kind)
	default:
		m.setStatus(statusErr, "unknown command :"+cmd+"; "+commandHelp)
	}
	return nil
}

// matchOrg resolves an org name: exact, else case-insensitive, else a
// unique substring.
func (m *Model) matchOrg(name string) (string, error) {
	if m.snap == nil {
		return name, nil
	}
	lower := strings.ToLower(name)
	var subs []string
	for i := range m.snap.Orgs {
		o := m.snap.Orgs[i].Org
		if o == name {
			return o, nil
		}
	}
	for i := range m.snap.Orgs {
		o := m.snap.Orgs[i].Org
		if strings.EqualFold(o, name) {
			return o, nil
		}
		if strings.Contains(strings.ToLower(o), lower) {
			subs = append(subs, o)
		}
	}
	switch len(subs) {
	case 0:
		return "", fmt.Errorf("no org matches %q (%d orgs in the snapshot)", name, len(m.snap.Orgs))
	case 1:
		return subs[0], nil
	}
	sort.Strings(subs)
	if len(subs) > 5 {
		subs = append(subs[:5], "…")
	}
	return "", fmt.Errorf("%q matches several orgs: %s", name, strings.Join(subs, ", "))
}
