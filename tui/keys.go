package tui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// keyMap is every binding of the console. The same bindings drive the
// short help line and the full help (?), so the help never disagrees with
// what a key does.
type keyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	Open, Back, Tab                       key.Binding
	Filter, Command, Help, Refresh        key.Binding
	Timeline, Item, State                 key.Binding
	Quarantine, Release, Repair, Pause    key.Binding
	Drill                                 key.Binding
	Mark, QuarantineAll, ReleaseAll       key.Binding
	AgentStatus, TeamPause                key.Binding
	Quit, ForceQuit                       key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "space"), key.WithHelp("pgdn", "page down")),
		Home:     key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("home/g", "first")),
		End:      key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "last")),

		Open: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Back: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
		Tab:  key.NewBinding(key.WithKeys("tab", "shift+tab"), key.WithHelp("tab", "next pane")),

		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Command:  key.NewBinding(key.WithKeys(":"), key.WithHelp(":", "command")),
		Help:     key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Refresh:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "refresh")),
		Timeline: key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "timeline")),
		Item:     key.NewBinding(key.WithKeys("i"), key.WithHelp("i", "item")),
		State:    key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "item state")),

		Quarantine: key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "quarantine item")),
		Release:    key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "release item")),
		Repair:     key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "repair: plan, confirm")),
		Pause:      key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "pause/resume queue")),
		Drill:      key.NewBinding(key.WithKeys("D"), key.WithHelp("D", "drill (demo)")),

		Mark:          key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "mark item")),
		QuarantineAll: key.NewBinding(key.WithKeys("X"), key.WithHelp("X", "quar. all")),
		ReleaseAll:    key.NewBinding(key.WithKeys("U"), key.WithHelp("U", "rel. all")),
		AgentStatus:   key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "agent set")),
		TeamPause:     key.NewBinding(key.WithKeys("T"), key.WithHelp("T", "team pause")),

		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		ForceQuit: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit now")),
	}
}

// isNav reports whether k moves a cursor or scrolls.
func (km *keyMap) isNav(k tea.KeyPressMsg) bool {
	return key.Matches(k, km.Up, km.Down, km.PageUp, km.PageDown, km.Home, km.End)
}

// move applies a navigation key to a cursor over n rows, with a page of
// page rows.
func (km *keyMap) move(k tea.KeyPressMsg, cursor, n, page int) int {
	page = max(page, 1)
	switch {
	case key.Matches(k, km.Up):
		cursor--
	case key.Matches(k, km.Down):
		cursor++
	case key.Matches(k, km.PageUp):
		cursor -= page
	case key.Matches(k, km.PageDown):
		cursor += page
	case key.Matches(k, km.Home):
		cursor = 0
	case key.Matches(k, km.End):
		cursor = n - 1
	}
	return clamp(cursor, 0, n-1)
}

// helpKeys is the key map as the help shows it: an action is hidden where
// the command table refuses its command (every action in read-only mode,
// the drill outside the demo). Matching always uses the full map, so that
// a hidden action is refused with a message rather than ignored.
type helpKeys struct {
	k     keyMap
	view  viewKind
	focus pane
}

func (m *Model) helpKeyMap() helpKeys {
	k := m.keys
	ro := m.readOnly()
	for _, a := range k.actions() {
		if !lookupCommand(a.command).allowed(ro, m.opts.Demo) {
			a.b.SetEnabled(false)
		}
	}
	return helpKeys{k: k, view: m.view, focus: m.org.focus}
}

// actionKey is an action's key and the : command whose rules it follows.
type actionKey struct {
	b       *key.Binding
	command string
}

func (km *keyMap) actions() [9]actionKey {
	return [9]actionKey{
		{&km.Quarantine, "quarantine"}, {&km.Release, "release"}, {&km.Repair, "repair"},
		{&km.Pause, "pause"}, {&km.Drill, "drill"}, {&km.QuarantineAll, "quarantine"}, {&km.ReleaseAll, "release"},
		{&km.AgentStatus, "agent"}, {&km.TeamPause, "team"},
	}
}

// ShortHelp is the one line at the bottom, for the current view.
func (h helpKeys) ShortHelp() []key.Binding {
	k := h.k
	switch h.view {
	case viewOrg:
		out := []key.Binding{k.Open, k.Back, k.Tab, k.Quarantine, k.Release, k.Pause, k.Repair}
		if h.focus == paneItems {
			out = append(out, k.State)
		}
		return append(out, k.Timeline, k.Help, k.Quit)
	case viewItem:
		return []key.Binding{k.Back, k.Quarantine, k.Release, k.Repair, k.Refresh, k.Help, k.Quit}
	case viewTimeline, viewRepair:
		return []key.Binding{k.Back, k.Up, k.Down, k.Refresh, k.Help, k.Quit}
	case viewSet:
		return []key.Binding{k.Back, k.Up, k.Down, k.Help, k.Quit}
	}
	return []key.Binding{k.Open, k.Filter, k.Command, k.Quarantine, k.Repair, k.Timeline, k.Drill, k.Help, k.Quit}
}

// FullHelp is the ? screen, grouped in columns.
func (h helpKeys) FullHelp() [][]key.Binding {
	k := h.k
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End},
		{k.Open, k.Back, k.Tab, k.Filter, k.Command, k.Refresh},
		// The set and people keys are here, below the rest, so that the
		// help still fits 80x24 in three columns.
		{k.Timeline, k.Item, k.State, k.Help, k.Quit, k.ForceQuit, k.Mark, k.QuarantineAll, k.ReleaseAll, k.TeamPause, k.AgentStatus},
		{k.Quarantine, k.Release, k.Repair, k.Pause, k.Drill},
	}
}
