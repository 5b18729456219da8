package tui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// textState is the scrollable text of the item, timeline and repair plan
// views: lines of plain text, wrapped to the terminal's width.
type textState struct {
	lines []string
	off   int
	cache *wrapCache
}

type wrapCache struct {
	w     int
	lines []string
}

func newText(lines []string) textState {
	return textState{lines: lines, cache: &wrapCache{w: -1}}
}

// wrapped returns the lines wrapped to w cells, cached per width.
func (t *textState) wrapped(w int) []string {
	if t.cache == nil {
		t.cache = &wrapCache{w: -1}
	}
	if t.cache.w != w {
		t.cache.w, t.cache.lines = w, wrap(t.lines, w)
	}
	return t.cache.lines
}

// reset replaces the lines and keeps the scroll position.
func (t *textState) reset(lines []string) {
	off := t.off
	*t = newText(lines)
	t.off = off
}

// scroll applies a navigation key.
func (t *textState) scroll(c *shared, k tea.KeyPressMsg) {
	rows := c.bodyHeight() - 1
	n := len(t.wrapped(max(c.width, 1)))
	maxOff := max(n-rows, 0)
	switch {
	case key.Matches(k, c.keys.Up):
		t.off--
	case key.Matches(k, c.keys.Down):
		t.off++
	case key.Matches(k, c.keys.PageUp):
		t.off -= rows
	case key.Matches(k, c.keys.PageDown):
		t.off += rows
	case key.Matches(k, c.keys.Home):
		t.off = 0
	case key.Matches(k, c.keys.End):
		t.off = maxOff
	}
	t.off = clamp(t.off, 0, maxOff)
}

// render is the title, with the position when the text does not fit, and
// a window of the wrapped lines.
func (t *textState) render(c *shared, h int, title string) []string {
	out := make([]string, 0, h)
	lines := t.wrapped(c.width)
	rows := h - 1
	off := clamp(t.off, 0, max(len(lines)-rows, 0))
	pos := ""
	if len(lines) > rows {
		pos = fmt.Sprintf(" · %d-%d of %d", off+1, min(off+rows, len(lines)), len(lines))
	}
	out = append(out, c.st.r(c.st.title, trunc(title+pos, c.width)))
	for i := off; i < len(lines) && i < off+rows; i++ {
		out = append(out, lines[i])
	}
	return out
}

// textView is what the three text views share: their text scrolls with
// the navigation keys, and no item is selected in it unless the view says
// otherwise.
type textView struct {
	text textState
}

func (v *textView) onKey(c *shared, k tea.KeyPressMsg) (tea.Cmd, *nav) {
	v.text.scroll(c, k)
	return nil, nil
}

func (v *textView) target(*shared, bool) (string, int64, string, error) {
	return "", 0, "", fmt.Errorf("no item selected here")
}
