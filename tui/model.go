package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

type viewKind uint8

const (
	viewFleet viewKind = iota
	viewOrg
	viewItem
	viewTimeline
	viewRepair
	viewSet
	viewReport
)

// screen is what every view implements: the root routes to the view on
// top the keys that no console-wide binding takes, the rendering of the
// body, and the questions "which org" and "which item". The routing is a
// switch on the view's kind rather than a call through this interface:
// the model is a value, and an interface holding a pointer into it would
// move every model to the heap, about 17 KB per message and per frame.
type screen interface {
	// onKey handles a key press; a view that wants another view on top
	// asks for it with a nav.
	onKey(c *shared, k tea.KeyPressMsg) (tea.Cmd, *nav)
	// body renders the h lines between the header and the status line.
	body(c *shared, h int) []string
	// about is the org the view is about ("" for every org).
	about() string
	// target is the item that an item action (x, u, i) applies to.
	target(c *shared, release bool) (org string, id int64, desc string, err error)
}

var (
	_ screen = (*fleetState)(nil)
	_ screen = (*orgState)(nil)
	_ screen = (*itemState)(nil)
	_ screen = (*timelineState)(nil)
	_ screen = (*repairState)(nil)
	_ screen = (*setState)(nil)
	_ screen = (*reportState)(nil)
)

// nav is a view's request for another view: the root owns the stack of
// views, so a view asks rather than switching itself.
type nav struct {
	to  viewKind
	org string
	id  int64
}

// Model is the console's root model: the shared context, the views, the
// stack of views shown, and what waits on the operator (a prompt, a
// question, a running action).
type Model struct {
	shared
	prompt

	view     viewKind
	stack    []viewKind
	showHelp bool

	fleet  fleetState
	org    orgState
	item   itemState
	tl     timelineState
	repair repairState
	set    setState
	report reportState

	confirm  *confirmState
	busy     int
	busyWhat string

	incidentWait  bool // the incident is due but waits for a snapshot
	incidentTries int
}

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
		m.paste(msg.Content)
	case tickMsg:
		cmd = tea.Batch(tickCmd(m.opts.Refresh), m.refresh(false))
	case snapMsg:
		cmd = m.onSnapshot(msg)
	case orgDataMsg:
		m.org.onData(msg)
	case itemMsg:
		m.item.onItem(&m.shared, msg)
	case timelineMsg:
		m.tl.onTimeline(msg)
	case planMsg:
		m.onPlan(msg)
	case setPlanMsg:
		m.onSetPlan(msg)
	case reportMsg:
		m.onReport(msg)
	case chartMsg:
		m.org.onChart(msg)
	case actionMsg:
		cmd = m.onAction(msg)
	case incidentDueMsg:
		cmd = m.onIncidentDue()
	case incidentMsg:
		cmd = m.onIncident(msg)
	}
	return m, cmd
}

// refresh starts a snapshot unless one is running (then it runs again
// right after). A manual refresh also reloads the timeline.
func (m *Model) refresh(manual bool) tea.Cmd {
	cmd := m.startFetch(manual)
	if manual && m.view == viewTimeline {
		return tea.Batch(cmd, m.tl.fetch(&m.shared))
	}
	return cmd
}

// onSnapshot takes a snapshot into the feed and the views, and reloads
// the data of the view on top.
func (m *Model) onSnapshot(msg snapMsg) tea.Cmd {
	follow := m.fleet.selectedName(&m.shared)
	ok, again := m.take(msg)
	var cmds []tea.Cmd
	if ok {
		m.fleet.rebuilt(&m.shared, follow)
		m.org.synced(&m.shared)
		switch m.view {
		case viewOrg:
			cmds = append(cmds, m.org.reload(&m.shared))
		case viewItem:
			cmds = append(cmds, m.item.fetch(&m.shared))
		}
		if m.incidentWait {
			m.incidentWait = false
			cmds = append(cmds, m.startIncident())
		}
	}
	if again != nil {
		cmds = append(cmds, again)
	}
	return tea.Batch(cmds...)
}

// ---- the stack of views ----

// onKey routes a key to the view on top.
func (m *Model) onKey(k tea.KeyPressMsg) (tea.Cmd, *nav) {
	c := &m.shared
	switch m.view {
	case viewOrg:
		return m.org.onKey(c, k)
	case viewItem:
		return m.item.onKey(c, k)
	case viewTimeline:
		return m.tl.onKey(c, k)
	case viewRepair:
		return m.repair.onKey(c, k)
	case viewSet:
		return m.set.onKey(c, k)
	case viewReport:
		return m.report.onKey(c, k)
	}
	return m.fleet.onKey(c, k)
}

// body renders the view on top.
func (m *Model) body(h int) []string {
	c := &m.shared
	switch m.view {
	case viewOrg:
		return m.org.body(c, h)
	case viewItem:
		return m.item.body(c, h)
	case viewTimeline:
		return m.tl.body(c, h)
	case viewRepair:
		return m.repair.body(c, h)
	case viewSet:
		return m.set.body(c, h)
	case viewReport:
		return m.report.body(c, h)
	}
	return m.fleet.body(c, h)
}

// contextOrg is the org the view on top is about ("" in the fleet view).
func (m *Model) contextOrg() string {
	switch m.view {
	case viewOrg:
		return m.org.about()
	case viewItem:
		return m.item.about()
	case viewTimeline:
		return m.tl.about()
	case viewRepair:
		return m.repair.about()
	case viewSet:
		return m.set.about()
	case viewReport:
		return m.report.about()
	}
	return m.fleet.about()
}

// targetItem is the item an item action applies to: the item view's item;
// in the org view the selected item row, or else the selected queue's
// head; in the fleet view the head of the selected org's stalled queue.
func (m *Model) targetItem(release bool) (org string, id int64, desc string, err error) {
	c := &m.shared
	switch m.view {
	case viewOrg:
		return m.org.target(c, release)
	case viewItem:
		return m.item.target(c, release)
	case viewTimeline:
		return m.tl.target(c, release)
	case viewRepair:
		return m.repair.target(c, release)
	case viewSet:
		return m.set.target(c, release)
	case viewReport:
		return m.report.target(c, release)
	}
	return m.fleet.target(c, release)
}

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
		return m.org.reload(&m.shared)
	}
	return nil
}

func (m *Model) toFleet() {
	m.view, m.stack = viewFleet, nil
}

// follow shows the view that a view asked for.
func (m *Model) follow(n *nav) tea.Cmd {
	switch n.to {
	case viewOrg:
		return m.openOrg(n.org)
	case viewItem:
		return m.openItem(n.org, n.id)
	}
	return nil
}

// openOrg opens the org view, on top of the fleet.
func (m *Model) openOrg(name string) tea.Cmd {
	oh := m.findOrg(name)
	if oh == nil && m.snap != nil {
		m.setStatus(statusErr, "no org "+name+" in the snapshot")
		return nil
	}
	if m.view != viewOrg {
		if m.view != viewFleet {
			m.toFleet()
		}
		m.pushView(viewOrg)
	}
	return m.org.open(&m.shared, name, oh)
}

func (m *Model) openItem(org string, id int64) tea.Cmd {
	cmd := m.item.open(&m.shared, org, id)
	m.pushView(viewItem)
	return cmd
}

func (m *Model) openTimeline(org string) tea.Cmd {
	cmd := m.tl.open(&m.shared, org)
	m.pushView(viewTimeline)
	return cmd
}

// ---- keys ----

// handleKey takes a key: ctrl+c always quits; a question, a prompt, a
// terminal too small and the help take keys first; then the console-wide
// bindings, and last the view on top.
func (m *Model) handleKey(k tea.KeyPressMsg) tea.Cmd {
	km := &m.keys
	switch {
	case key.Matches(k, km.ForceQuit):
		return tea.Quit
	case m.confirm != nil:
		return m.handleConfirm(k)
	case m.mode != inputNone:
		return m.handleInput(k)
	case m.tooSmall():
		if key.Matches(k, km.Quit) {
			return m.quit()
		}
		return nil
	case m.showHelp:
		switch {
		case key.Matches(k, km.Quit):
			return m.quit()
		case key.Matches(k, km.Help, km.Back):
			m.showHelp = false
		}
		return nil
	}
	if cmd, ok := m.globalKey(k); ok {
		return cmd
	}
	cmd, to := m.onKey(k)
	if to != nil {
		return tea.Batch(cmd, m.follow(to))
	}
	return cmd
}

// globalKey handles the bindings that work in every view.
func (m *Model) globalKey(k tea.KeyPressMsg) (tea.Cmd, bool) {
	km := &m.keys
	switch {
	case key.Matches(k, km.Quit):
		return m.quit(), true
	case key.Matches(k, km.Help):
		m.showHelp = true
	case key.Matches(k, km.Command):
		m.mode, m.input = inputCommand, nil
	case key.Matches(k, km.Filter):
		return m.startFilter(), true
	case key.Matches(k, km.Refresh):
		m.setStatus(statusInfo, "refreshing…")
		return m.refresh(true), true
	case key.Matches(k, km.Timeline):
		return m.openTimeline(m.contextOrg()), true
	case key.Matches(k, km.Quarantine):
		return m.action("quarantine", func() tea.Cmd {
			if sel, ok := m.markedSelector(); ok {
				return m.askBulk(ops.SetQuarantine, sel)
			}
			return m.askQuarantine(0, "", "")
		}), true
	case key.Matches(k, km.Release):
		return m.action("release", func() tea.Cmd {
			if sel, ok := m.markedSelector(); ok {
				return m.askBulk(ops.SetRelease, sel)
			}
			return m.askRelease(0, "", false)
		}), true
	case key.Matches(k, km.QuarantineAll):
		return m.action("quarantine", func() tea.Cmd { return m.askAll(ops.SetQuarantine) }), true
	case key.Matches(k, km.ReleaseAll):
		return m.action("release", func() tea.Cmd { return m.askAll(ops.SetRelease) }), true
	case key.Matches(k, km.AgentStatus):
		return m.action("agent", m.askAgentStatus), true
	case key.Matches(k, km.TeamPause):
		return m.action("team", m.askTeamPause), true
	case key.Matches(k, km.Repair):
		return m.action("repair", func() tea.Cmd { return m.askRepair(m.contextOrg(), repairAllow{}) }), true
	case key.Matches(k, km.Pause):
		return m.action("pause", m.askPause), true
	case key.Matches(k, km.Drill):
		return m.action("drill", func() tea.Cmd { return m.askDrill(m.drillOrg(), 3, ops.DrillMissingRevisions) }), true
	case key.Matches(k, km.Back):
		return m.back(), true
	case key.Matches(k, km.Item) && m.view != viewItem:
		org, id, _, err := m.targetItem(false)
		if err != nil {
			return m.fail(err), true
		}
		return m.openItem(org, id), true
	default:
		return nil, false
	}
	return nil, true
}

// action runs an action key's question when the command of the same name
// is permitted here.
func (m *Model) action(name string, ask func() tea.Cmd) tea.Cmd {
	if !m.permit(lookupCommand(name)) {
		return nil
	}
	return ask()
}

func (m *Model) quit() tea.Cmd {
	if m.busy > 0 {
		m.confirm = &confirmState{quit: true, action: "quit",
			prompt: fmt.Sprintf("%s is still running. Quit anyway?", m.busyWhat)}
		return nil
	}
	return tea.Quit
}

// back (esc) clears a filter first, else goes back one view.
func (m *Model) back() tea.Cmd {
	switch {
	case m.view == viewFleet:
		if m.fleet.clear(&m.shared) {
			m.setStatus(statusInfo, "filter cleared")
		}
		return nil
	case m.view == viewOrg && m.org.filter != "":
		m.org.filter, m.org.idx = "", nil
		m.setStatus(statusInfo, "item filter cleared")
		return m.org.applyAttrs(&m.shared)
	case m.view == viewOrg && len(m.org.marks) > 0:
		m.org.marks = nil
		m.setStatus(statusInfo, "marks cleared")
		return nil
	}
	return m.popView()
}

// ---- the views' state, as the commands and the tests ask for it ----

func (m *Model) fleetLen() int                   { return m.fleet.count(&m.shared) }
func (m *Model) fleetRowAt(i int) *fleetRow      { return m.fleet.rowAt(&m.shared, i) }
func (m *Model) fleetRows() int                  { return m.fleet.pageRows(&m.shared) }
func (m *Model) itemsLen() int                   { return m.org.itemsLen() }
func (m *Model) itemAt(i int) *router.WorkItem   { return m.org.itemAt(i) }
func (m *Model) selectedItem() *router.WorkItem  { return m.org.selectedItem() }
func (m *Model) selectedQueue() *ops.QueueHealth { return m.org.selectedQueue() }
func (m *Model) orgLayout() orgLayout            { return m.org.layout(&m.shared) }
