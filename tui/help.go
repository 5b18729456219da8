package tui

import (
	"strings"

	"charm.land/bubbles/v2/key"
)

// The full help (?): the key bindings in titled blocks, packed into
// columns, then the : commands from the command table. What the console
// refuses here (actions read-only, the drill off the demo) is left out.

func (m *Model) helpBody(h int) []string {
	blocks := m.helpBlocks()
	cmds := commandUsages(false, m.readOnly(), m.opts.Demo)
	cmdLines := listLines("Commands: ", cmds, " · ", m.width)
	rows := max(h-3-len(cmdLines), 6)
	out := []string{m.st.r(m.st.title, "Keys (? or esc closes the help)"), ""}
	out = append(out, packColumns(blocks, rows, m.width)...)
	out = append(out, "")
	return append(out, cmdLines...)
}

// listLines lays out a list after a title in lines of at most w cells,
// breaking between items only (an item wider than w is wrapped alone),
// so that no item is split where it holds a hyphen or a space.
func listLines(title string, items []string, sep string, w int) []string {
	var out []string
	line := title
	for i, it := range items {
		next := it
		if i < len(items)-1 {
			next += strings.TrimRight(sep, " ")
		}
		switch {
		case line == title || line == "":
			line += next
		case width(line)+1+width(next) <= w:
			line += " " + next
		default:
			out = append(out, line)
			line = next
		}
	}
	return wrap(append(out, line), w)
}

// helpBlocks is one block of lines per group of keys, the actions first,
// so that they are seen even on a small terminal.
func (m *Model) helpBlocks() [][]string {
	groups := m.helpKeyMap().FullHelp()
	titles := []string{"Move", "Views", "More", "Actions"}
	var blocks [][]string
	for _, gi := range []int{3, 1, 0, 2} {
		enabled := 0
		for _, b := range groups[gi] {
			if b.Enabled() {
				enabled++
			}
		}
		if enabled == 0 || gi == 3 && m.readOnly() {
			continue
		}
		bl := []string{m.st.r(m.st.title, titles[gi])}
		bl = append(bl, strings.Split(m.help.FullHelpView([][]key.Binding{groups[gi]}), "\n")...)
		blocks = append(blocks, bl)
	}
	return blocks
}

// packColumns lays blocks out in columns of at most rows lines, top to
// bottom, left to right, cut to w cells.
func packColumns(blocks [][]string, rows, w int) []string {
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
	var out []string
	for r := 0; r < rows; r++ {
		var b strings.Builder
		used := 0
		any := false
		for i, c := range cols {
			if used >= w {
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
		if width(stripStyle(line)) > w {
			line = truncStyled(line, w)
		}
		out = append(out, line)
	}
	return out
}
