package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
)

// fleetState is the fleet view: every org, worst first, one row each,
// with a cursor and a filter. Its rows come from the feed.
type fleetState struct {
	cursor, offset int
	filter         string // lower-cased
	stalledOnly    bool
	idx            []int32 // matching rows; nil when unfiltered
}

func (f *fleetState) count(c *shared) int {
	if f.idx != nil {
		return len(f.idx)
	}
	return len(c.rows)
}

func (f *fleetState) rowAt(c *shared, i int) *fleetRow {
	if i < 0 || i >= f.count(c) {
		return nil
	}
	if f.idx != nil {
		return &c.rows[f.idx[i]]
	}
	return &c.rows[i]
}

// selected is the org under the cursor.
func (f *fleetState) selected(c *shared) *ops.OrgHealth {
	r := f.rowAt(c, f.cursor)
	if r == nil || c.snap == nil {
		return nil
	}
	return &c.snap.Orgs[r.snapIdx]
}

// selectedName is the org under the cursor when the cursor is not on
// the top row, so that a new snapshot can keep it selected.
func (f *fleetState) selectedName(c *shared) string {
	if f.cursor > 0 {
		if r := f.rowAt(c, f.cursor); r != nil {
			return r.org
		}
	}
	return ""
}

// rebuilt refilters the feed's new rows. The top row stays selected, so
// that the worst org is always under the cursor; a selection further down
// follows its org.
func (f *fleetState) rebuilt(c *shared, follow string) {
	f.idx = filterRows(c.rows, f.filter, f.stalledOnly)
	if follow != "" {
		n := f.count(c)
		for i := 0; i < n; i++ {
			if f.rowAt(c, i).org == follow {
				f.cursor = i
				break
			}
		}
	}
	f.cursor = clamp(f.cursor, 0, f.count(c)-1)
}

func (f *fleetState) filtered() bool { return f.filter != "" || f.stalledOnly }

func (f *fleetState) refilter(c *shared) {
	f.idx = filterRows(c.rows, f.filter, f.stalledOnly)
	f.cursor, f.offset = 0, 0
}

// show sets the filter and whether only the stalled orgs show.
func (f *fleetState) show(c *shared, filter string, stalledOnly bool) {
	f.filter, f.stalledOnly = filter, stalledOnly
	f.refilter(c)
}

// clear drops the filter (esc); it reports whether there was one.
func (f *fleetState) clear(c *shared) bool {
	if !f.filtered() {
		return false
	}
	f.show(c, "", false)
	return true
}

// pageRows is how many org rows fit.
func (f *fleetState) pageRows(c *shared) int {
	h := c.bodyHeight() - 1
	if f.filtered() {
		h--
	}
	return max(h, 1)
}

func (f *fleetState) about() string { return "" }

func (f *fleetState) onKey(c *shared, k tea.KeyPressMsg) (tea.Cmd, *nav) {
	switch {
	case c.keys.isNav(k):
		rows := f.pageRows(c)
		f.cursor = c.keys.move(k, f.cursor, f.count(c), rows)
		f.offset = scrollTo(f.cursor, f.offset, rows)
	case key.Matches(k, c.keys.Open):
		if r := f.rowAt(c, f.cursor); r != nil {
			return nil, &nav{to: viewOrg, org: r.org}
		}
	}
	return nil, nil
}

// target is the head of the selected org's stalled queue.
func (f *fleetState) target(c *shared, release bool) (org string, id int64, desc string, err error) {
	if release {
		return "", 0, "", fmt.Errorf("release: open the org (enter) and pick a quarantined item, or :release ID")
	}
	if oh := f.selected(c); oh != nil {
		for i := range oh.Queues {
			if q := &oh.Queues[i]; q.Stalled && q.Head != nil {
				return headTarget(oh.Org, q)
			}
		}
	}
	return "", 0, "", fmt.Errorf("no stalled head here: open the org (enter) and pick a queue or an item")
}

func (f *fleetState) body(c *shared, h int) []string {
	out := make([]string, 0, h)
	if f.filtered() {
		var parts []string
		if f.stalledOnly {
			parts = append(parts, "stalled only")
		}
		if f.filter != "" {
			parts = append(parts, "filter /"+f.filter)
		}
		out = append(out, trunc(fmt.Sprintf("%s · %d of %d orgs · esc clears", strings.Join(parts, " · "), f.count(c), len(c.rows)), c.width))
	}
	cols := newFleetCols(c)
	out = append(out, cols.header(c))
	n := f.count(c)
	switch {
	case c.snap == nil && c.failures > 0:
		return append(out, "  no data yet: the store is unreachable (see the banner)")
	case c.snap == nil:
		return append(out, "  waiting for the first snapshot…")
	case len(c.rows) == 0:
		return append(out, "  no orgs in the store yet")
	case n == 0:
		return append(out, "  no org matches; esc clears the filter")
	}
	rows := f.pageRows(c)
	off := scrollTo(f.cursor, f.offset, rows)
	off = clamp(off, 0, max(n-rows, 0))
	for i := off; i < n && i < off+rows; i++ {
		out = append(out, cols.line(c, f.rowAt(c, i), i == f.cursor))
	}
	return out
}

// fleetCols is the fleet table's layout for the terminal's width.
type fleetCols struct {
	wide        bool
	org, status int
}

func newFleetCols(c *shared) fleetCols {
	fc := fleetCols{wide: c.width >= 100}
	fixed, maxOrg := 48, 20
	if fc.wide {
		fixed, maxOrg = 67, 24
	}
	fc.org = clamp(c.orgW, 8, maxOrg)
	fc.org = min(fc.org, max(c.width-fixed-10, 8))
	fc.status = max(c.width-fixed-fc.org, 0)
	return fc
}

func (fc fleetCols) header(c *shared) string {
	var b strings.Builder
	b.WriteString("  ")
	appendCell(&b, "HEALTH", 6, false, false)
	appendCell(&b, "ORG", fc.org, false, false)
	appendCell(&b, "QUEUED", 6, true, false)
	appendCell(&b, "WAIT", 5, true, false)
	appendCell(&b, "HEAD", 5, true, false)
	appendCell(&b, "A/MIN", 5, true, false)
	if fc.wide {
		appendCell(&b, "TREND", 8, false, false)
	}
	appendCell(&b, "AGENTS", 7, true, false)
	if fc.wide {
		appendCell(&b, "FREE/CAP", 9, true, false)
	}
	appendCell(&b, "QUAR", 4, true, false)
	b.WriteString(trunc("STATUS", fc.status))
	return c.st.r(c.st.colHead, strings.TrimRight(b.String(), " "))
}

func (fc fleetCols) line(c *shared, r *fleetRow, sel bool) string {
	prefix := "  "
	if sel {
		prefix = "> "
	}
	health := present.HealthWord(r.health)
	var mid strings.Builder
	mid.Grow(c.width)
	mid.WriteString(strings.Repeat(" ", 6-width(health)+1))
	appendCell(&mid, r.org, fc.org, false, false)
	appendCell(&mid, present.Count(int(r.queued)), 6, true, false)
	appendCell(&mid, present.Age(float64(r.oldest)), 5, true, false)
	appendCell(&mid, present.Age(float64(r.head)), 5, true, false)
	if fc.wide {
		appendCell(&mid, present.Count(int(r.assigned1m)), 5, true, false)
		appendCell(&mid, r.trend.spark(8), 8, false, false)
	} else {
		appendCell(&mid, present.Count(int(r.assigned1m))+r.trend.arrow(), 5, true, false)
	}
	appendCell(&mid, present.Ratio(int(r.agentsAvail), int(r.agentsTotal)), 7, true, false)
	if fc.wide {
		appendCell(&mid, present.Ratio(int(r.free), int(r.capacity)), 9, true, false)
	}
	appendCell(&mid, present.Count(int(r.quarantined)), 4, true, false)
	status, stalled := present.StalledText(int(r.stalled), r.cause), true
	if status == "" {
		status, stalled = r.reason, false
	}
	status = trunc(status, fc.status)
	if !c.st.color {
		return strings.TrimRight(prefix+health+mid.String()+status, " ")
	}
	if sel {
		return c.st.selected.Render(padRight(prefix+health+mid.String()+status, c.width))
	}
	st := c.st.dim
	if stalled {
		st = c.st.stalled
	}
	return prefix + c.st.health(r.health, health) + mid.String() + c.st.r(st, status)
}
