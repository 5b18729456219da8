package tui

import "github.com/routeops/routeops/ops"

// topologyBadges renders the header's topology badges (ops.Badges) and
// returns their width.
func (m Model) topologyBadges() (string, int) {
	var out string
	w := 0
	for _, b := range ops.Badges(m.snap) {
		out += m.st.r(m.st.badge, b) + " "
		w += width(b) + 1
	}
	return out, w
}
