package router

import (
	"context"
	"math"
	"slices"
	"sort"
	"time"
)

// ImpactStore is the part of Store that says who was hurt: waits over a
// window, computed set-based from the items and the journal.
type ImpactStore interface {
	// Impact aggregates the waits of the conversations enqueued in
	// [Since, Until) (cancelled ones left out), per org and per queue, with
	// the stall windows that overlap the window and
	// the items quarantined or repaired in it. A conversation's wait is
	// assigned_at - enqueued_at, or Until - enqueued_at while it has not
	// been assigned. Percentiles are percentile_disc.
	Impact(ctx context.Context, req ImpactRequest) (*ImpactData, error)
	// WaitSeries samples queues' waiting conversations and oldest wait at
	// Points evenly spaced instants ending at To (the first one step after
	// From). A conversation is waiting at t when it was enqueued at or
	// before t and not assigned by t (quarantined ones wait too; cancelled
	// ones do not count).
	WaitSeries(ctx context.Context, req SeriesRequest) ([]QueueSeries, error)
}

// ImpactRequest parameterises Impact.
type ImpactRequest struct {
	Since, Until time.Time
	// Org limits the report to one org; empty: every org.
	Org string
	SLA time.Duration
	// ListItems bounds the quarantined and repaired items listed per org
	// (longest wait first); 0 lists none.
	ListItems int
}

// WaitStats aggregates waits.
type WaitStats struct {
	// Items counts the conversations enqueued in the window.
	Items int
	// OverSLA counts those whose wait exceeded the SLA.
	OverSLA int
	Max     time.Duration
	P50     time.Duration
	P95     time.Duration
	// Excess is the sum over conversations of max(0, wait - SLA); divided
	// by a minute it is the customer-minutes.
	Excess time.Duration
}

// ImpactData is what Impact returns, orgs sorted by id and queues by id.
// Fleet totals are the orgs' (FleetStats); there is no fleet-wide
// percentile, which would sort every wait once more.
type ImpactData struct {
	Orgs []ImpactOrg
}

// ImpactOrgs collects a report's orgs as a store finds them, in any
// order; Data lays them out in the report's order.
type ImpactOrgs map[string]*ImpactOrg

// Org is the org's entry, made on first use.
func (m ImpactOrgs) Org(id string) *ImpactOrg {
	if o := m[id]; o != nil {
		return o
	}
	o := &ImpactOrg{Org: id}
	m[id] = o
	return o
}

// Data is the report: orgs by id, each org's queues by id.
func (m ImpactOrgs) Data() *ImpactData {
	out := &ImpactData{}
	for _, o := range m {
		sort.Slice(o.Queues, func(i, j int) bool { return o.Queues[i].Queue < o.Queues[j].Queue })
		out.Orgs = append(out.Orgs, *o)
	}
	sort.Slice(out.Orgs, func(i, j int) bool { return out.Orgs[i].Org < out.Orgs[j].Org })
	return out
}

// FleetStats adds up the orgs' figures: items, over-SLA, excess, and the
// longest wait. Percentiles are left zero.
func (d *ImpactData) FleetStats() WaitStats {
	var s WaitStats
	for _, o := range d.Orgs {
		s.Items += o.Items
		s.OverSLA += o.OverSLA
		s.Excess += o.Excess
		s.Max = max(s.Max, o.Max)
	}
	return s
}

// ImpactOrg is one org's part of the report.
type ImpactOrg struct {
	Org string
	WaitStats
	Queues []ImpactQueue
	// Stalls are the stall windows overlapping the report's window,
	// oldest first.
	Stalls []StallWindow
	// Quarantined and Repaired count distinct items with a quarantined or
	// revision_repaired event in the window.
	Quarantined, Repaired int
	// QuarantinedItems and RepairedItems list up to ListItems of them,
	// longest wait first.
	QuarantinedItems, RepairedItems []ImpactItem
}

// QueueRow finds or adds queue q's row in the org's report.
func (o *ImpactOrg) QueueRow(q string) *ImpactQueue {
	for i := range o.Queues {
		if o.Queues[i].Queue == q {
			return &o.Queues[i]
		}
	}
	o.Queues = append(o.Queues, ImpactQueue{Queue: q})
	return &o.Queues[len(o.Queues)-1]
}

// ImpactQueue is one queue's part of the report.
type ImpactQueue struct {
	Queue string
	WaitStats
	Quarantined, Repaired int
}

// StallWindow is a stall from detected to cleared (To nil: still stalled
// at the end of the journal).
type StallWindow struct {
	Queue string
	Cause Cause
	From  time.Time
	To    *time.Time
}

// ImpactItem is one item and how long it waited.
type ImpactItem struct {
	ID    int64
	Queue string
	State ItemState
	Wait  time.Duration
}

// SeriesRequest parameterises WaitSeries.
type SeriesRequest struct {
	Org string
	// Queues to sample; empty: every queue of the org that had a waiting
	// conversation in the window.
	Queues   []string
	From, To time.Time
	Points   int
}

// QueueSeries is one queue's samples.
type QueueSeries struct {
	Org, Queue string
	Points     []SeriesPoint
}

// SeriesPoint is one sample.
type SeriesPoint struct {
	At         time.Time
	Waiting    int
	OldestWait time.Duration
}

// SeriesTimes returns the sampling instants of a SeriesRequest, truncated
// to microseconds so that every store samples at the same instants.
func (r SeriesRequest) SeriesTimes() []time.Time {
	n := max(r.Points, 1)
	step := r.To.Sub(r.From) / time.Duration(n)
	out := make([]time.Time, n)
	for i := range out {
		out[i] = r.From.Add(step * time.Duration(i+1)).UTC().Truncate(time.Microsecond)
	}
	out[n-1] = r.To.UTC().Truncate(time.Microsecond)
	return out
}

// PercentileDisc is SQL's percentile_disc over ascending values: the first
// value whose position p of the way through the list is reached, that is
// the value at the ceil(p*n)-th place (at least the first).
func PercentileDisc(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p * float64(len(sorted))))
	k = min(max(k, 1), len(sorted))
	return sorted[k-1]
}

// StatsOf aggregates waits (in any order) against an SLA, the way the
// stores' SQL does; memstore and tests use it.
func StatsOf(waits []time.Duration, sla time.Duration) WaitStats {
	s := WaitStats{Items: len(waits)}
	if len(waits) == 0 {
		return s
	}
	sorted := slices.Clone(waits)
	slices.Sort(sorted)
	s.Max = sorted[len(sorted)-1]
	s.P50 = PercentileDisc(sorted, 0.5)
	s.P95 = PercentileDisc(sorted, 0.95)
	for _, w := range sorted {
		if w > sla {
			s.OverSLA++
			s.Excess += w - sla
		}
	}
	return s
}

// WaitOf is a conversation's wait as of until: to its assignment, or to
// until while it waits. Times count in whole microseconds, as PostgreSQL
// keeps them.
func WaitOf(it *WorkItem, until time.Time) time.Duration {
	end := until
	if it.AssignedAt != nil {
		end = *it.AssignedAt
	}
	return end.Truncate(time.Microsecond).Sub(it.EnqueuedAt.Truncate(time.Microsecond))
}
