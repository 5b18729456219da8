package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops/present"
)

type inputMode uint8

const (
	inputNone inputMode = iota
	inputFilter
	inputCommand
)

// prompt is the one-line input at the bottom: a / filter, applied as it
// is typed, or a : command, run on enter.
type prompt struct {
	mode  inputMode
	input []rune
}

// maxInput bounds what a prompt holds.
const maxInput = 200

// startFilter opens the / prompt on the fleet's org rows, or on the org
// view's items.
func (m *Model) startFilter() tea.Cmd {
	switch m.view {
	case viewFleet:
		m.mode, m.input = inputFilter, []rune(m.fleet.filter)
	case viewOrg:
		m.org.focus = paneItems
		m.mode, m.input = inputFilter, []rune(m.org.filter)
	default:
		m.setStatus(statusInfo, "/ filters the fleet's orgs and the org view's items")
	}
	return nil
}

func (m *Model) applyFilter(s string) {
	if m.view == viewOrg {
		// The org view's filter keeps its case: key=value terms match
		// attributes exactly; its text matches lower-cased.
		m.org.setFilter(strings.TrimSpace(s))
		return
	}
	s = strings.ToLower(strings.TrimSpace(s))
	m.fleet.show(&m.shared, s, m.fleet.stalledOnly)
}

// paste adds pasted text, on one line, to an open prompt.
func (m *Model) paste(text string) {
	if m.mode == inputNone || m.confirm != nil {
		return
	}
	m.input = append(m.input, []rune(present.Line(text))...)
	if m.mode == inputFilter {
		m.applyFilter(string(m.input))
	}
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
		if m.view == viewOrg {
			return m.org.applyAttrs(&m.shared)
		}
		return nil
	case "esc":
		m.mode, m.input = inputNone, nil
		if m.view == viewOrg {
			m.applyFilter("")
			return m.org.applyAttrs(&m.shared)
		}
		m.applyFilter("")
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
		if len(m.input) < maxInput {
			m.input = append(m.input, []rune(k.Text)...)
		}
	}
	if m.mode == inputFilter {
		m.applyFilter(string(m.input))
	}
	return nil
}
