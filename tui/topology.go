package tui

import "github.com/routeops/routeops/ops/present"

// topologyBadges renders the header's topology badges (present.Badges:
// STANDBY or REPLICA with the lag, POLLING) and returns their width.
func (c *shared) topologyBadges() (string, int) {
	var out string
	w := 0
	for _, b := range present.Badges(c.snap) {
		out += c.st.r(c.st.badge, b) + " "
		w += width(b) + 1
	}
	return out, w
}
