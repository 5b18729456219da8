package tui

import (
	"strings"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/router"
)

// trendLen is how many snapshots the assignment trend remembers.
const trendLen = 8

// trend is a small ring of an org's assignments per minute over the last
// snapshots.
type trend struct {
	vals [trendLen]uint32
	n    uint8 // how many are filled
	pos  uint8 // next slot
}

func (t *trend) push(v int) {
	if v < 0 {
		v = 0
	}
	t.vals[t.pos] = uint32(v)
	t.pos = (t.pos + 1) % trendLen
	if t.n < trendLen {
		t.n++
	}
}

// at returns the i-th value, oldest first.
func (t *trend) at(i int) uint32 {
	start := (int(t.pos) - int(t.n) + trendLen) % trendLen
	return t.vals[(start+i)%trendLen]
}

var sparkChars = []rune("▁▂▃▄▅▆▇█")

// spark renders the trend in w cells (the newest values on the right).
func (t *trend) spark(w int) string {
	if t == nil || t.n == 0 {
		return strings.Repeat(" ", w)
	}
	n := min(int(t.n), w)
	var hi uint32
	for i := int(t.n) - n; i < int(t.n); i++ {
		hi = max(hi, t.at(i))
	}
	var b strings.Builder
	b.Grow(w * 3)
	for range w - n {
		b.WriteByte(' ')
	}
	for i := int(t.n) - n; i < int(t.n); i++ {
		v := t.at(i)
		idx := 0
		if hi > 0 && v > 0 {
			idx = int((uint64(v)*uint64(len(sparkChars)-1) + uint64(hi) - 1) / uint64(hi))
		}
		b.WriteRune(sparkChars[idx])
	}
	return b.String()
}

// arrow compares the last two values: ↑, ↓, → or a space.
func (t *trend) arrow() string {
	if t == nil || t.n < 2 {
		return " "
	}
	a, b := t.at(int(t.n)-2), t.at(int(t.n)-1)
	switch {
	case b > a:
		return "↑"
	case b < a:
		return "↓"
	}
	return "→"
}

// fleetRow is one org of the fleet view, precomputed per snapshot: only
// numbers and shared strings, so that 5,000 of them are cheap to build
// and small to keep. Cells are formatted only for the visible rows.
type fleetRow struct {
	org    string
	lower  string // lower-cased org for filtering; "" when org is already
	health ops.Health
	cause  router.Cause // the first stalled queue's cause
	reason string

	queued, quarantined, stalled int32
	assigned1m                   int32
	agentsAvail, agentsTotal     int32
	free, capacity               int32
	oldest, head                 float32
	trend                        *trend
	snapIdx                      int32
	hasStall                     bool
}

// buildRows turns a snapshot into fleet rows in the snapshot's order
// (ops.SortOrgs: severity, then stalled queues, then oldest wait), and
// pushes each org's assignments per minute onto its trend.
func buildRows(snap *ops.Snapshot, trends map[string]*trend) []fleetRow {
	if snap == nil {
		return nil
	}
	rows := make([]fleetRow, len(snap.Orgs))
	for i := range snap.Orgs {
		o := &snap.Orgs[i]
		r := &rows[i]
		r.org = o.Org
		if lower := strings.ToLower(o.Org); lower != o.Org {
			r.lower = lower
		}
		r.health = o.Health
		r.reason = o.Reason
		r.queued = int32(o.Queued)
		r.quarantined = int32(o.Quarantined)
		r.stalled = int32(o.StalledQueues)
		r.assigned1m = int32(o.Assigned1m)
		r.agentsAvail = int32(o.AgentsAvailable)
		r.agentsTotal = int32(o.AgentsTotal)
		r.free = int32(o.AvailableCapacity)
		r.capacity = int32(o.Capacity)
		r.oldest = float32(o.OldestAgeSeconds)
		r.head = float32(o.HeadAgeSeconds)
		r.snapIdx = int32(i)
		if o.StalledQueues > 0 {
			r.hasStall = true
			for qi := range o.Queues {
				if o.Queues[qi].Stalled {
					r.cause = o.Queues[qi].Cause
					break
				}
			}
		}
		if trends != nil {
			t := trends[o.Org]
			if t == nil {
				t = &trend{}
				trends[o.Org] = t
			}
			t.push(o.Assigned1m)
			r.trend = t
		}
	}
	// Forget the trends of orgs that are gone, when there are many.
	if trends != nil && len(trends) > len(rows)+len(rows)/4+16 {
		keep := make(map[string]bool, len(rows))
		for i := range rows {
			keep[rows[i].org] = true
		}
		for k := range trends {
			if !keep[k] {
				delete(trends, k)
			}
		}
	}
	return rows
}

// matches reports whether a row passes the fleet filter (lower-cased).
func (r *fleetRow) matches(filter string, stalledOnly bool) bool {
	if stalledOnly && !r.hasStall {
		return false
	}
	if filter == "" {
		return true
	}
	name := r.org
	if r.lower != "" {
		name = r.lower
	}
	if strings.Contains(name, filter) {
		return true
	}
	if r.cause != "" && strings.Contains(string(r.cause), filter) {
		return true
	}
	return strings.Contains(string(r.health), filter)
}

// filterRows returns the indices of matching rows, or nil when there is
// no filter (every row shows).
func filterRows(rows []fleetRow, filter string, stalledOnly bool) []int32 {
	if filter == "" && !stalledOnly {
		return nil
	}
	out := make([]int32, 0, 64)
	for i := range rows {
		if rows[i].matches(filter, stalledOnly) {
			out = append(out, int32(i))
		}
	}
	return out
}
