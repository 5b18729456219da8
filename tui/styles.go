package tui

import (
	"os"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/routeops/routeops/ops"
)

// styles holds the console's looks. With colour off every style is a
// no-op and the frame is plain text: selection is shown by the ">" marker
// and health by its symbol and word, so nothing relies on colour.
type styles struct {
	color bool

	crit, warn, ok   lipgloss.Style
	stalled          lipgloss.Style
	title, dim       lipgloss.Style
	badge, banner    lipgloss.Style
	selected         lipgloss.Style
	errText, okText  lipgloss.Style
	prompt, colHead  lipgloss.Style
	helpKey, helpDsc lipgloss.Style
}

func newStyles(color bool) styles {
	s := styles{color: color}
	if !color {
		return s
	}
	n := lipgloss.NewStyle
	// Basic ANSI colours only: the terminal's theme maps them, so they read
	// on dark and light backgrounds alike without asking the terminal for
	// its background (a query that can hang on some links).
	s.crit = n().Foreground(lipgloss.Red).Bold(true)
	s.warn = n().Foreground(lipgloss.Yellow).Bold(true)
	s.ok = n().Foreground(lipgloss.Green)
	s.stalled = n().Foreground(lipgloss.Red).Bold(true)
	s.title = n().Bold(true)
	s.dim = n().Faint(true)
	s.badge = n().Reverse(true).Bold(true)
	s.banner = n().Foreground(lipgloss.BrightWhite).Background(lipgloss.Red).Bold(true)
	s.selected = n().Reverse(true)
	s.errText = n().Foreground(lipgloss.Red)
	s.okText = n().Foreground(lipgloss.Green)
	s.prompt = n().Foreground(lipgloss.Yellow).Bold(true)
	s.colHead = n().Bold(true).Underline(true)
	s.helpKey = n().Bold(true)
	s.helpDsc = n().Faint(true)
	return s
}

// r renders text with a style, or returns it unchanged with colour off.
func (s styles) r(st lipgloss.Style, text string) string {
	if !s.color || text == "" {
		return text
	}
	return st.Render(text)
}

func (s styles) health(h ops.Health, text string) string {
	switch h {
	case ops.HealthCritical:
		return s.r(s.crit, text)
	case ops.HealthWarning:
		return s.r(s.warn, text)
	}
	return s.r(s.ok, text)
}

func (s styles) helpStyles() help.Styles {
	if !s.color {
		return help.Styles{}
	}
	return help.Styles{
		ShortKey: s.helpKey, ShortDesc: s.helpDsc, ShortSeparator: s.helpDsc, Ellipsis: s.helpDsc,
		FullKey: s.helpKey, FullDesc: s.helpDsc, FullSeparator: s.helpDsc,
	}
}

// colorWanted decides from --color and NO_COLOR whether to draw colour.
func colorWanted(mode string, getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	if mode == "never" {
		return false
	}
	// no-color.org: present and not empty disables colour.
	if getenv("NO_COLOR") != "" {
		return false
	}
	return true
}

// colorProfile is the profile the program renders with: with colour off it
// is Ascii, which drops every colour sequence, even from a component that
// sets one; "always" forces at least the 16 ANSI colours; "auto" lets Bubble
// Tea detect it (a non-terminal output then gets none).
func colorProfile(mode string, wanted bool, detect func() colorprofile.Profile) (colorprofile.Profile, bool) {
	switch {
	case !wanted:
		return colorprofile.ASCII, true
	case mode == "always":
		if detected := detect(); detected < colorprofile.ANSI {
			return colorprofile.ANSI, true
		} else {
			return detected, true
		}
	}
	return 0, false
}
