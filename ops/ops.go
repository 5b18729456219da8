package ops

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/routeops/routeops/ops/internal/text"
	"github.com/routeops/routeops/router"
)

// Ops is the operator API. Every mutation goes through it, is refused in
// read-only mode, and is recorded with the operator's identity and origin.
// The store is private: nothing reaches it around the rules.
type Ops struct {
	store   router.OpsStore
	Clock   router.Clock
	Actor   router.Actor
	Monitor *Monitor
	Log     *slog.Logger

	policy  Policy
	repair  RepairSettings
	cleanup CleanupSettings
}

// RepairSettings are repair.* in the config.
type RepairSettings struct {
	DefaultPriority int
	DefaultChannel  string
}

// CleanupSettings are cleanup.* in the config.
type CleanupSettings struct {
	BatchSize int
	// Pause between batches; 0 is no pause.
	Pause   time.Duration
	MaxRows int
}

// Options are everything an Ops is built with, once. Zero values take the
// defaults noted on each field.
type Options struct {
	// Clock defaults to the wall clock.
	Clock router.Clock
	// Actor is who acts, recorded with every change (ResolveActor).
	Actor router.Actor
	// MonitorActor is who the monitor records stall events as; Actor when
	// empty.
	MonitorActor router.Actor
	// Health are the monitor's thresholds; the zero Settings means
	// DefaultSettings().
	Health Settings
	// Policy is the read-only switch and the drill gate. Policy.Store
	// defaults to the store's description.
	Policy Policy
	// Repair: a zero priority and an empty channel take 50 and chat.
	Repair RepairSettings
	// Cleanup: a zero batch size and row cap take 1000 and 100000; the
	// pause is taken as given.
	Cleanup CleanupSettings
	// Log defaults to discarding.
	Log *slog.Logger
}

// New builds the operator API on a store, with its monitor.
func New(store router.OpsStore, opt Options) *Ops {
	if opt.Clock == nil {
		opt.Clock = router.RealClock{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Health == (Settings{}) {
		opt.Health = DefaultSettings()
	}
	if opt.MonitorActor == (router.Actor{}) {
		opt.MonitorActor = opt.Actor
	}
	if opt.Policy.Store == "" {
		opt.Policy.Store = store.Describe()
	}
	if opt.Repair.DefaultPriority == 0 && opt.Repair.DefaultChannel == "" {
		opt.Repair = RepairSettings{DefaultPriority: 50, DefaultChannel: "chat"}
	}
	if opt.Cleanup.BatchSize <= 0 {
		opt.Cleanup.BatchSize = 1000
	}
	if opt.Cleanup.MaxRows <= 0 {
		opt.Cleanup.MaxRows = 100000
	}
	return &Ops{store: store, Clock: opt.Clock, Actor: opt.Actor,
		Monitor: NewMonitor(store, opt.Clock, opt.Health, opt.MonitorActor, opt.Log),
		Log:     opt.Log, policy: opt.Policy, repair: opt.Repair, cleanup: opt.Cleanup}
}

// Policy returns the rules this Ops runs under.
func (o *Ops) Policy() Policy { return o.policy }

// ReadOnly reports whether every change is refused.
func (o *Ops) ReadOnly() bool { return o.policy.ReadOnly }

// Describe names the store, with any password redacted.
func (o *Ops) Describe() string { return o.store.Describe() }

func (o *Ops) guard(action string) error { return o.policy.Allow(action) }

// ResolveActor works out who is acting and from where: the operator from
// the flag or config, else SUDO_USER or USER; the origin from the client
// address in SSH_CONNECTION, else "local".
func ResolveActor(operator string, env func(string) string) router.Actor {
	if env == nil {
		env = os.Getenv
	}
	osUser := env("USER")
	if osUser == "" {
		osUser = env("LOGNAME")
	}
	name := strings.TrimSpace(operator)
	if name == "" {
		name = env("SUDO_USER")
	}
	if osUser == "" {
		// USER is not always set (cron, some containers, su without -l):
		// ask the OS who owns the process.
		if u, err := user.Current(); err == nil {
			osUser = u.Username
		}
	}
	if name == "" {
		name = osUser
	}
	if name == "" {
		name = "unknown"
	}
	if su := env("SUDO_USER"); su != "" && osUser == "root" {
		osUser = "root (sudo from " + su + ")"
	}
	origin := "local"
	if sc := strings.Fields(env("SSH_CONNECTION")); len(sc) >= 1 && net.ParseIP(sc[0]) != nil {
		origin = sc[0]
	}
	return router.Actor{Name: name, OSUser: osUser, Origin: origin}
}

// CheckedActor is ResolveActor with one rule for every source of a name:
// the operator from the flag or config, SUDO_USER, USER (or LOGNAME) and
// the OS user are refused alike when they hold a control character or a
// bidi mark (router.CheckName), rather than recorded in the journal and
// replayed on someone's terminal. The error names the source.
func CheckedActor(operator string, env func(string) string) (router.Actor, error) {
	if env == nil {
		env = os.Getenv
	}
	for _, src := range []struct{ what, val string }{
		{"the operator name (--operator, operator, ROUTEOPS_OPERATOR)", operator},
		{"SUDO_USER", env("SUDO_USER")},
		{"USER", env("USER")},
		{"LOGNAME", env("LOGNAME")},
	} {
		if err := router.CheckName(src.what, src.val); err != nil {
			return router.Actor{}, fmt.Errorf("%w; set --operator to the name to record", err)
		}
	}
	a := ResolveActor(operator, env)
	if err := router.CheckName("the OS user", a.OSUser); err != nil {
		return router.Actor{}, fmt.Errorf("%w; set --operator to the name to record", err)
	}
	return a, nil
}

// Outcome reports an action on one item.
type Outcome struct {
	Item    string `json:"item"`
	OK      bool   `json:"ok"`
	Changed bool   `json:"changed"`
	State   string `json:"state,omitempty"`
	Message string `json:"message"`
	// Err is set when the action was refused or failed.
	Err error `json:"-"`
}

// Failed counts refused or failed outcomes.
func Failed(outs []Outcome) int {
	n := 0
	for _, o := range outs {
		if !o.OK {
			n++
		}
	}
	return n
}

func outcome(id int64, r router.ActionResult, err error) Outcome {
	o := Outcome{Item: router.FormatItemID(id), OK: err == nil, Changed: r.Changed, State: string(r.State), Message: r.Message, Err: err}
	if err != nil {
		o.Message = text.Explain(err)
	}
	return o
}

// Quarantine moves queued items aside. org may be empty; when given, an id
// from another org is refused as not found.
func (o *Ops) Quarantine(ctx context.Context, org string, ids []int64, reason string) ([]Outcome, error) {
	if err := o.guard(ActionQuarantine); err != nil {
		return nil, err
	}
	if err := RequireReason(ActionQuarantine, reason); err != nil {
		return nil, err
	}
	outs := make([]Outcome, 0, len(ids))
	for _, id := range ids {
		r, err := o.store.Quarantine(ctx, router.QuarantineRequest{Org: org, ItemID: id, Reason: reason, Actor: o.Actor, At: o.Clock.Now()})
		outs = append(outs, outcome(id, r, err))
	}
	return outs, nil
}

// Release returns quarantined (or skipped) items to their queue, in their
// original place in line. An item whose current revision is missing,
// oversized or invalid would fault again at once: it is refused, saying to
// repair it first, unless force.
func (o *Ops) Release(ctx context.Context, org string, ids []int64, force bool) ([]Outcome, error) {
	if err := o.guard(ActionRelease); err != nil {
		return nil, err
	}
	outs := make([]Outcome, 0, len(ids))
	for _, id := range ids {
		r, err := o.store.Release(ctx, router.ReleaseRequest{Org: org, ItemID: id, Force: force, Actor: o.Actor, At: o.Clock.Now()})
		outs = append(outs, outcome(id, r, err))
	}
	return outs, nil
}

// SetPaused pauses or resumes a queue.
func (o *Ops) SetPaused(ctx context.Context, ref router.QueueRef, paused bool) (router.ActionResult, error) {
	action := ActionResume
	if paused {
		action = ActionPause
	}
	if err := o.guard(action); err != nil {
		return router.ActionResult{}, err
	}
	return o.store.SetQueuePaused(ctx, router.QueuePauseRequest{Org: ref.Org, Queue: ref.Queue, Paused: paused, Actor: o.Actor, At: o.Clock.Now()})
}

// ItemDetail is everything about one item.
type ItemDetail struct {
	Item      router.WorkItem    `json:"item"`
	Revisions []RevisionView     `json:"revisions"`
	Events    []router.Event     `json:"events"`
	Revision  string             `json:"current_revision"` // ok, missing, corrupt
	Error     string             `json:"current_revision_error,omitempty"`
	Journal   *JournalView       `json:"journal,omitempty"`
	Attrs     *router.Attributes `json:"attributes,omitempty"`
}

// RevisionView is a revision with its verdict.
type RevisionView struct {
	ID         int64     `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	Source     string    `json:"source"`
	Current    bool      `json:"current"`
	Valid      bool      `json:"valid"`
	Error      string    `json:"error,omitempty"`
	Attributes rawJSON   `json:"attributes"`
	// Bytes is the attributes' size; Oversized means they are over the
	// store's limit and were not loaded.
	Bytes     int  `json:"bytes"`
	Oversized bool `json:"oversized,omitempty"`
}

// JournalView is the journal copy kept on the item.
type JournalView struct {
	RevisionID int64   `json:"revision_id"`
	Valid      bool    `json:"valid"`
	Attributes rawJSON `json:"attributes"`
	// Unverified: the store cannot prove the copy came from the revision
	// (see router.WorkItem.JournalVerified); repair uses it only as a
	// fallback.
	Unverified bool `json:"unverified,omitempty"`
	Bytes      int  `json:"bytes"`
	Oversized  bool `json:"oversized,omitempty"`
}

// Item loads one item's detail. org may be empty.
func (o *Ops) Item(ctx context.Context, org string, id int64) (*ItemDetail, error) {
	it, err := o.store.GetItem(ctx, id)
	if err != nil {
		return nil, err
	}
	if org != "" && it.OrgID != org {
		return nil, router.NotFoundf("item %d does not exist in org %s", id, org)
	}
	d := &ItemDetail{Item: it}
	revs, err := o.store.ItemRevisions(ctx, it.OrgID, id)
	if err != nil {
		return nil, err
	}
	cur := router.HeadItem{CurrentRevisionID: it.CurrentRevisionID}
	for _, r := range revs {
		rv := RevisionView{ID: r.ID, CreatedAt: r.CreatedAt, Source: r.Source, Current: r.ID == it.CurrentRevisionID,
			Attributes: asRaw(r.Attributes), Bytes: r.Bytes, Oversized: r.Oversized}
		if r.Oversized {
			rv.Error = router.OversizedError(r.ID, r.Bytes).Error()
		} else if err := router.ValidateAttributes(r.Attributes); err != nil {
			rv.Error = err.Error()
		} else {
			rv.Valid = true
		}
		if rv.Current {
			cur.RevisionFound, cur.Attributes, cur.Oversized, cur.Bytes = true, r.Attributes, r.Oversized, r.Bytes
			if a, err := router.ParseAttributes(r.Attributes); err == nil && !r.Oversized {
				d.Attrs = &a
			}
		}
		d.Revisions = append(d.Revisions, rv)
	}
	_, cause, cerr := router.ClassifyHead(&cur)
	switch cause {
	case router.CauseMissingRevision:
		d.Revision, d.Error = "missing", cerr.Error()
	case router.CauseCorruptRevision:
		d.Revision, d.Error = "corrupt", cerr.Error()
	case router.CauseOversizedAttributes:
		d.Revision, d.Error = "oversized", cerr.Error()
	default:
		d.Revision = "ok"
	}
	if it.JournalRevisionID != 0 {
		d.Journal = &JournalView{RevisionID: it.JournalRevisionID, Attributes: asRaw(it.JournalAttributes),
			Unverified: !it.JournalVerified, Bytes: it.JournalBytes, Oversized: it.JournalOversized}
		d.Journal.Valid = !it.JournalOversized && router.ValidateAttributes(it.JournalAttributes) == nil
	}
	d.Events, err = o.store.Events(ctx, router.EventFilter{Org: it.OrgID, ItemID: id, Limit: 200, NewestOf: true})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// ItemPage is one page of items.
type ItemPage struct {
	Items []router.WorkItem `json:"items"`
	// Next is the cursor for the following page (--after), 0 at the end.
	Next int64 `json:"next"`
}

// ListItems lists items, paginated by id.
func (o *Ops) ListItems(ctx context.Context, f router.ItemFilter) (*ItemPage, error) {
	want := pageSize(f.Limit)
	f.Limit = want + 1 // one more, to know whether a next page exists
	items, err := o.store.ListItems(ctx, f)
	if err != nil {
		return nil, err
	}
	return newPage(items, want), nil
}

// pageSize is a page's size: limit, or 50 when it is not positive.
func pageSize(limit int) int {
	if limit <= 0 {
		return 50
	}
	return limit
}

// newPage is the page of the first want items; a store that returned
// more (it was asked for want+1) has a next page, after the last shown.
func newPage(items []router.WorkItem, want int) *ItemPage {
	p := &ItemPage{Items: items}
	if len(items) > want {
		p.Items = items[:want]
		p.Next = p.Items[want-1].ID
	}
	if p.Items == nil {
		p.Items = []router.WorkItem{}
	}
	return p
}

// Verify runs the integrity scan.
func (o *Ops) Verify(ctx context.Context, limit int) (router.VerifyReport, error) {
	rep, err := o.store.Verify(ctx, limit)
	if rep.Findings == nil {
		rep.Findings = []router.Finding{}
	}
	return rep, err
}

// Drill injects the incident: it deletes (or corrupts) the current
// revisions of up to count queued items of org.
func (o *Ops) Drill(ctx context.Context, kind, org string, count int) ([]int64, error) {
	if err := o.guard(ActionDrill); err != nil {
		return nil, err
	}
	if err := CheckDrill(kind, org, count); err != nil {
		return nil, err
	}
	d, ok := o.store.(router.Driller)
	if !ok {
		return nil, &DrillRefusedError{Store: o.store.Describe()}
	}
	req := router.DrillRequest{Org: org, Count: count, Actor: o.Actor, At: o.Clock.Now()}
	if kind == DrillCorruptRevisions {
		return d.DrillCorruptRevisions(ctx, req)
	}
	return d.DrillDeleteRevisions(ctx, req)
}

// InjectIncident reproduces the incident where it shows: at the head of
// the org's highest-priority queue. When routing keeps queues empty (as on
// the demo, where agents take work at once) there is nothing queued to
// break, so it first enqueues count conversations at top priority, with no
// team or skill requirement (so free capacity could take them and a stuck
// head is a real stall, not starvation), then breaks their current
// revisions. The queue is paused for the few milliseconds this takes, so
// that a running engine cannot route the victims first; the pause and
// resume are journalled like any other action.
func (o *Ops) InjectIncident(ctx context.Context, kind, org string, count int) ([]int64, error) {
	if err := o.guard(ActionDrill); err != nil {
		return nil, err
	}
	if count <= 0 {
		count = 1
	}
	if err := CheckDrill(kind, org, count); err != nil {
		return nil, err
	}
	qs, err := o.store.ListQueues(ctx, org)
	if err != nil {
		return nil, err
	}
	var top *router.Queue
	for i := range qs {
		if !qs[i].Paused {
			top = &qs[i]
			break
		}
	}
	if top == nil {
		return nil, fmt.Errorf("org %s has no unpaused queue to break", org)
	}
	if _, err := o.store.SetQueuePaused(ctx, router.QueuePauseRequest{Org: org, Queue: top.ID, Paused: true, Actor: o.Actor, At: o.Clock.Now()}); err != nil {
		return nil, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = o.store.SetQueuePaused(rctx, router.QueuePauseRequest{Org: org, Queue: top.ID, Paused: false, Actor: o.Actor, At: o.Clock.Now()})
	}()
	victim := router.Attributes{Priority: 100, Channel: "chat", Tier: "gold"}
	for i := 0; i < count; i++ {
		if _, err := o.store.Enqueue(ctx, router.EnqueueRequest{OrgID: org, QueueID: top.ID,
			Attributes: victim.Marshal(), EnqueuedAt: o.Clock.Now()}); err != nil {
			return nil, err
		}
	}
	return o.Drill(ctx, kind, org, count)
}
