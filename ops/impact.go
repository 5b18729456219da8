package ops

import (
	"context"
	"sort"
	"time"

	"github.com/routeops/routeops/router"
)

// DefaultSLA is the wait a conversation may have before it counts as hurt.
const DefaultSLA = 5 * time.Minute

// ImpactOptions shape an impact report.
type ImpactOptions struct {
	// Since is how far back the window starts; it ends now.
	Since time.Duration
	Org   string
	// SLA defaults to DefaultSLA.
	SLA time.Duration
	// Charts, when above 0, samples the depth and oldest wait of that many
	// of the most affected queues over the window.
	Charts int
	// ListItems bounds the quarantined and repaired items listed per org.
	ListItems int
	// Progress is told how many of the report's steps are done.
	Progress func(done, total int)
}

// ImpactReport is who was hurt over a window. since, until, sla_seconds,
// summary{orgs_affected, items_over_sla, customer_minutes} and orgs[]
// with the fields of ImpactFigures are a JSON contract.
type ImpactReport struct {
	Since      time.Time     `json:"since"`
	Until      time.Time     `json:"until"`
	SLASeconds float64       `json:"sla_seconds"`
	Summary    ImpactSummary `json:"summary"`
	Orgs       []ImpactOrg   `json:"orgs"`
	Charts     []ImpactChart `json:"charts,omitempty"`
}

// ImpactSummary is the fleet's total.
type ImpactSummary struct {
	OrgsAffected    int     `json:"orgs_affected"`
	ItemsOverSLA    int     `json:"items_over_sla"`
	CustomerMinutes float64 `json:"customer_minutes"`
	Conversations   int     `json:"conversations"`
	MaxWaitSeconds  float64 `json:"max_wait_seconds"`
	Quarantined     int     `json:"quarantined"`
	Repaired        int     `json:"repaired"`
	StallWindows    int     `json:"stall_windows"`
}

// ImpactFigures are what the report says of an org and of each queue.
type ImpactFigures struct {
	Conversations   int           `json:"conversations"`
	ItemsOverSLA    int           `json:"items_over_sla"`
	MaxWaitSeconds  float64       `json:"max_wait_seconds"`
	P50WaitSeconds  float64       `json:"p50_wait_seconds"`
	P95WaitSeconds  float64       `json:"p95_wait_seconds"`
	CustomerMinutes float64       `json:"customer_minutes"`
	StallWindows    []StallWindow `json:"stall_windows"`
	Quarantined     int           `json:"quarantined"`
	Repaired        int           `json:"repaired"`
}

// ImpactOrg is one org's part.
type ImpactOrg struct {
	Org string `json:"org"`
	ImpactFigures
	// Affected: conversations over the SLA, a stall, or a quarantine.
	Affected         bool          `json:"affected"`
	QuarantinedItems []ImpactItem  `json:"quarantined_items"`
	RepairedItems    []ImpactItem  `json:"repaired_items"`
	Queues           []ImpactQueue `json:"queues"`
}

// ImpactQueue is one queue's part.
type ImpactQueue struct {
	Queue string `json:"queue"`
	ImpactFigures
}

// StallWindow is a stall, from detected to cleared (to null: not cleared).
type StallWindow struct {
	Queue string     `json:"queue"`
	Cause string     `json:"cause"`
	From  time.Time  `json:"from"`
	To    *time.Time `json:"to"`
}

// ImpactItem is an item quarantined or repaired in the window, with how
// long it waited.
type ImpactItem struct {
	Item        string  `json:"item"`
	Queue       string  `json:"queue"`
	State       string  `json:"state"`
	WaitSeconds float64 `json:"wait_seconds"`
}

// ImpactChart is one queue's waiting conversations and oldest wait over
// the window.
type ImpactChart struct {
	Org    string        `json:"org"`
	Queue  string        `json:"queue"`
	Points []ChartSample `json:"points"`
}

// ChartSample is one sample of a chart.
type ChartSample struct {
	At                time.Time `json:"at"`
	Waiting           int       `json:"waiting"`
	OldestWaitSeconds float64   `json:"oldest_wait_seconds"`
}

// CheckImpact validates a request.
func CheckImpact(o ImpactOptions) error {
	if o.Since <= 0 {
		return requestErr("impact needs a positive --since, such as 24h")
	}
	if o.SLA < 0 {
		return requestErr("--sla must not be negative")
	}
	return nil
}

func figures(s router.WaitStats, stalls []StallWindow, quarantined, repaired int) ImpactFigures {
	return ImpactFigures{Conversations: s.Items, ItemsOverSLA: s.OverSLA, MaxWaitSeconds: s.Max.Seconds(),
		P50WaitSeconds: s.P50.Seconds(), P95WaitSeconds: s.P95.Seconds(), CustomerMinutes: s.Excess.Minutes(),
		StallWindows: stalls, Quarantined: quarantined, Repaired: repaired}
}

// Impact reports who was hurt over the last Since: per org and per queue,
// the conversations whose wait exceeded the SLA, the longest, median and
// 95th-percentile waits, customer-minutes (the sum of waits beyond the
// SLA), stall windows, and the items quarantined and repaired; the most
// affected orgs first. It is a read.
func (o *Ops) Impact(ctx context.Context, opt ImpactOptions) (*ImpactReport, error) {
	if err := CheckImpact(opt); err != nil {
		return nil, err
	}
	if opt.SLA == 0 {
		opt.SLA = DefaultSLA
	}
	steps := 1 + min(opt.Charts, 1)
	until := o.Clock.Now().UTC().Truncate(time.Microsecond)
	since := until.Add(-opt.Since)
	data, err := o.store.Impact(ctx, router.ImpactRequest{Since: since, Until: until, Org: opt.Org, SLA: opt.SLA, ListItems: opt.ListItems})
	if err != nil {
		return nil, err
	}
	if opt.Progress != nil {
		opt.Progress(1, steps)
	}
	rep := &ImpactReport{Since: since, Until: until, SLASeconds: opt.SLA.Seconds(), Orgs: make([]ImpactOrg, 0, len(data.Orgs))}
	for i := range data.Orgs {
		rep.Orgs = append(rep.Orgs, impactOrg(&data.Orgs[i]))
	}
	sort.SliceStable(rep.Orgs, func(i, j int) bool { return moreHurt(&rep.Orgs[i].ImpactFigures, &rep.Orgs[j].ImpactFigures) })
	s := &rep.Summary
	for _, org := range rep.Orgs {
		if org.Affected {
			s.OrgsAffected++
		}
		s.ItemsOverSLA += org.ItemsOverSLA
		s.CustomerMinutes += org.CustomerMinutes
		s.Conversations += org.Conversations
		s.MaxWaitSeconds = max(s.MaxWaitSeconds, org.MaxWaitSeconds)
		s.Quarantined += org.Quarantined
		s.Repaired += org.Repaired
		s.StallWindows += len(org.StallWindows)
	}
	if opt.Charts > 0 {
		if rep.Charts, err = o.impactCharts(ctx, rep, opt.Charts); err != nil {
			return nil, err
		}
		if opt.Progress != nil {
			opt.Progress(2, steps)
		}
	}
	return rep, nil
}

// moreHurt orders by customer-minutes, then conversations over the SLA,
// then stalls.
func moreHurt(a, b *ImpactFigures) bool {
	if a.CustomerMinutes != b.CustomerMinutes {
		return a.CustomerMinutes > b.CustomerMinutes
	}
	if a.ItemsOverSLA != b.ItemsOverSLA {
		return a.ItemsOverSLA > b.ItemsOverSLA
	}
	return len(a.StallWindows) > len(b.StallWindows)
}

func impactOrg(d *router.ImpactOrg) ImpactOrg {
	byQueue := map[string][]StallWindow{}
	all := []StallWindow{}
	for _, w := range d.Stalls {
		sw := StallWindow{Queue: w.Queue, Cause: string(w.Cause), From: w.From, To: w.To}
		all = append(all, sw)
		byQueue[w.Queue] = append(byQueue[w.Queue], sw)
	}
	org := ImpactOrg{Org: d.Org, ImpactFigures: figures(d.WaitStats, all, d.Quarantined, d.Repaired),
		QuarantinedItems: impactItems(d.QuarantinedItems), RepairedItems: impactItems(d.RepairedItems), Queues: []ImpactQueue{}}
	seen := map[string]bool{}
	for _, q := range d.Queues {
		seen[q.Queue] = true
		stalls := byQueue[q.Queue]
		if stalls == nil {
			stalls = []StallWindow{}
		}
		org.Queues = append(org.Queues, ImpactQueue{Queue: q.Queue, ImpactFigures: figures(q.WaitStats, stalls, q.Quarantined, q.Repaired)})
	}
	for q, stalls := range byQueue {
		if !seen[q] {
			org.Queues = append(org.Queues, ImpactQueue{Queue: q, ImpactFigures: figures(router.WaitStats{}, stalls, 0, 0)})
		}
	}
	sort.SliceStable(org.Queues, func(i, j int) bool {
		a, b := &org.Queues[i].ImpactFigures, &org.Queues[j].ImpactFigures
		if moreHurt(a, b) || moreHurt(b, a) {
			return moreHurt(a, b)
		}
		return org.Queues[i].Queue < org.Queues[j].Queue
	})
	org.Affected = org.ItemsOverSLA > 0 || len(org.StallWindows) > 0 || org.Quarantined > 0
	return org
}

func impactItems(xs []router.ImpactItem) []ImpactItem {
	out := make([]ImpactItem, 0, len(xs))
	for _, x := range xs {
		out = append(out, ImpactItem{Item: router.FormatItemID(x.ID), Queue: x.Queue, State: string(x.State), WaitSeconds: x.Wait.Seconds()})
	}
	return out
}

// chartPoints is how many samples a chart has.
const chartPoints = 24

// impactCharts samples the n most affected queues (by customer-minutes)
// over the report's window, one store call per org.
func (o *Ops) impactCharts(ctx context.Context, rep *ImpactReport, n int) ([]ImpactChart, error) {
	type ref struct {
		org, queue string
		f          *ImpactFigures
	}
	var refs []ref
	for i := range rep.Orgs {
		for j := range rep.Orgs[i].Queues {
			q := &rep.Orgs[i].Queues[j]
			if q.ItemsOverSLA > 0 || len(q.StallWindows) > 0 || q.Quarantined > 0 {
				refs = append(refs, ref{rep.Orgs[i].Org, q.Queue, &q.ImpactFigures})
			}
		}
	}
	sort.SliceStable(refs, func(i, j int) bool { return moreHurt(refs[i].f, refs[j].f) })
	refs = refs[:min(n, len(refs))]
	byOrg := map[string][]string{}
	var orgs []string
	for _, r := range refs {
		if byOrg[r.org] == nil {
			orgs = append(orgs, r.org)
		}
		byOrg[r.org] = append(byOrg[r.org], r.queue)
	}
	series := map[[2]string]router.QueueSeries{}
	for _, org := range orgs {
		ss, err := o.store.WaitSeries(ctx, router.SeriesRequest{Org: org, Queues: byOrg[org], From: rep.Since, To: rep.Until, Points: chartPoints})
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			series[[2]string{s.Org, s.Queue}] = s
		}
	}
	out := make([]ImpactChart, 0, len(refs))
	for _, r := range refs {
		out = append(out, chartOf(series[[2]string{r.org, r.queue}], r.org, r.queue))
	}
	return out, nil
}

func chartOf(s router.QueueSeries, org, queue string) ImpactChart {
	c := ImpactChart{Org: org, Queue: queue, Points: make([]ChartSample, 0, len(s.Points))}
	for _, p := range s.Points {
		c.Points = append(c.Points, ChartSample{At: p.At, Waiting: p.Waiting, OldestWaitSeconds: p.OldestWait.Seconds()})
	}
	return c
}

// QueueChart samples one org's queues (all of them that had a waiting
// conversation when queues is empty) over the last d: the console's
// depth and oldest-wait chart. It is a read.
func (o *Ops) QueueChart(ctx context.Context, org string, queues []string, d time.Duration, points int) ([]ImpactChart, error) {
	now := o.Clock.Now().UTC().Truncate(time.Microsecond)
	ss, err := o.store.WaitSeries(ctx, router.SeriesRequest{Org: org, Queues: queues, From: now.Add(-d), To: now, Points: points})
	if err != nil {
		return nil, err
	}
	out := make([]ImpactChart, 0, len(ss))
	for _, s := range ss {
		out = append(out, chartOf(s, s.Org, s.Queue))
	}
	return out, nil
}
