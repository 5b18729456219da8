package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/routeops/routeops/router"
)

// Ops is the operator API. Every mutation goes through it, is refused in
// read-only mode, and is recorded with the operator's identity and origin.
type Ops struct {
	Store router.Store
	Clock router.Clock
	Actor router.Actor
	// ReadOnly refuses every mutation.
	ReadOnly bool
	// Embedded is set on the in-process demo store; drills are always
	// allowed there.
	Embedded bool
	// DrillAllowed is drill.allow from the database's config.
	DrillAllowed bool
	Monitor      *Monitor
	Repair       RepairSettings
	Cleanup      CleanupSettings
	Log          *slog.Logger
}

// RepairSettings are repair.* in the config.
type RepairSettings struct {
	DefaultPriority int
	DefaultChannel  string
}

// CleanupSettings are cleanup.* in the config.
type CleanupSettings struct {
	BatchSize int
	Pause     time.Duration
	MaxRows   int
}

// New builds an Ops with defaults filled in.
func New(store router.Store, clock router.Clock, actor router.Actor, s Settings) *Ops {
	if clock == nil {
		clock = router.RealClock{}
	}
	log := slog.New(slog.DiscardHandler)
	return &Ops{Store: store, Clock: clock, Actor: actor,
		Monitor: NewMonitor(store, clock, s, actor, log),
		Repair:  RepairSettings{DefaultPriority: 50, DefaultChannel: "chat"},
		Cleanup: CleanupSettings{BatchSize: 1000, Pause: 100 * time.Millisecond, MaxRows: 100000},
		Log:     log}
}

// ErrReadOnly refuses a mutation in read-only mode.
var ErrReadOnly = router.ErrReadOnly

// ReadOnlyError names the refused action.
type ReadOnlyError struct{ Action string }

func (e *ReadOnlyError) Error() string {
	return fmt.Sprintf("read-only mode: %s refused (started with --read-only or console.read_only: true)", e.Action)
}

func (e *ReadOnlyError) Unwrap() error { return router.ErrReadOnly }

func (o *Ops) guard(action string) error {
	if o.ReadOnly {
		return &ReadOnlyError{Action: action}
	}
	return nil
}

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
		o.Message = explain(err)
	}
	return o
}

// explain renders a store error for an operator.
func explain(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, router.ErrNotFound.Error()+": ")
	msg = strings.TrimPrefix(msg, router.ErrConflict.Error()+": ")
	return msg
}

// Quarantine moves queued items aside. org may be empty; when given, an id
// from another org is refused as not found.
func (o *Ops) Quarantine(ctx context.Context, org string, ids []int64, reason string) ([]Outcome, error) {
	if err := o.guard("quarantine"); err != nil {
		return nil, err
	}
	if strings.TrimSpace(reason) == "" {
		return nil, errors.New("quarantine needs a reason (--reason)")
	}
	outs := make([]Outcome, 0, len(ids))
	for _, id := range ids {
		r, err := o.Store.Quarantine(ctx, org, id, reason, o.Actor, o.Clock.Now())
		outs = append(outs, outcome(id, r, err))
	}
	return outs, nil
}

// Release returns quarantined (or skipped) items to their queue, in their
// original place in line.
func (o *Ops) Release(ctx context.Context, org string, ids []int64) ([]Outcome, error) {
	if err := o.guard("release"); err != nil {
		return nil, err
	}
	outs := make([]Outcome, 0, len(ids))
	for _, id := range ids {
		r, err := o.Store.Release(ctx, org, id, o.Actor, o.Clock.Now())
		outs = append(outs, outcome(id, r, err))
	}
	return outs, nil
}

// SetPaused pauses or resumes a queue.
func (o *Ops) SetPaused(ctx context.Context, ref router.QueueRef, paused bool) (router.ActionResult, error) {
	action := "resume"
	if paused {
		action = "pause"
	}
	if err := o.guard(action); err != nil {
		return router.ActionResult{}, err
	}
	return o.Store.SetQueuePaused(ctx, ref.Org, ref.Queue, paused, o.Actor, o.Clock.Now())
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
	// Verified: the store proved the copy came from the revision (see
	// router.WorkItem.JournalVerified).
	Verified  bool `json:"verified"`
	Bytes     int  `json:"bytes"`
	Oversized bool `json:"oversized,omitempty"`
}

// Item loads one item's detail. org may be empty.
func (o *Ops) Item(ctx context.Context, org string, id int64) (*ItemDetail, error) {
	it, err := o.Store.GetItem(ctx, id)
	if err != nil {
		return nil, err
	}
	if org != "" && it.OrgID != org {
		return nil, router.NotFoundf("item %d does not exist in org %s", id, org)
	}
	d := &ItemDetail{Item: it}
	revs, err := o.Store.ItemRevisions(ctx, it.OrgID, id)
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
			Verified: it.JournalVerified, Bytes: it.JournalBytes, Oversized: it.JournalOversized}
		d.Journal.Valid = !it.JournalOversized && router.ValidateAttributes(it.JournalAttributes) == nil
	}
	d.Events, err = o.Store.Events(ctx, router.EventFilter{Org: it.OrgID, ItemID: id, Limit: 200, NewestOf: true})
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
	if f.Limit <= 0 {
		f.Limit = 50
	}
	want := f.Limit
	f.Limit = want + 1
	items, err := o.Store.ListItems(ctx, f)
	if err != nil {
		return nil, err
	}
	p := &ItemPage{Items: items}
	if len(items) > want {
		p.Items = items[:want]
		p.Next = p.Items[want-1].ID
	}
	if p.Items == nil {
		p.Items = []router.WorkItem{}
	}
	return p, nil
}

// Verify runs the integrity scan.
func (o *Ops) Verify(ctx context.Context, limit int) (router.VerifyReport, error) {
	rep, err := o.Store.Verify(ctx, limit)
	if rep.Findings == nil {
		rep.Findings = []router.Finding{}
	}
	return rep, err
}

// Drill kinds.
const (
	DrillMissingRevisions = "missing-revisions"
	DrillCorruptRevisions = "corrupt-revisions"
)

// DrillRefusedError explains why a drill was refused.
type DrillRefusedError struct{ Store string }

func (e *DrillRefusedError) Error() string {
	return fmt.Sprintf("drill refused: %s is not marked for drills. Drills run on the embedded demo, "+
		"or on a database whose routeops config sets drill.allow: true", e.Store)
}

// Drill injects the incident: it deletes (or corrupts) the current
// revisions of up to count queued items of org.
func (o *Ops) Drill(ctx context.Context, kind, org string, count int) ([]int64, error) {
	if err := o.guard("drill"); err != nil {
		return nil, err
	}
	if !o.Embedded && !o.DrillAllowed {
		return nil, &DrillRefusedError{Store: o.Store.Describe()}
	}
	if count <= 0 {
		return nil, errors.New("drill needs --count of at least 1")
	}
	switch kind {
	case DrillMissingRevisions:
		return o.Store.DrillDeleteRevisions(ctx, org, count, o.Actor, o.Clock.Now())
	case DrillCorruptRevisions:
		return o.Store.DrillCorruptRevisions(ctx, org, count, o.Actor, o.Clock.Now())
	}
	return nil, fmt.Errorf("unknown drill %q (allowed: %s, %s)", kind, DrillMissingRevisions, DrillCorruptRevisions)
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
	if err := o.guard("drill"); err != nil {
		return nil, err
	}
	if !o.Embedded && !o.DrillAllowed {
		return nil, &DrillRefusedError{Store: o.Store.Describe()}
	}
	if count <= 0 {
		count = 1
	}
	qs, err := o.Store.ListQueues(ctx, org)
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
	if _, err := o.Store.SetQueuePaused(ctx, org, top.ID, true, o.Actor, o.Clock.Now()); err != nil {
		return nil, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = o.Store.SetQueuePaused(rctx, org, top.ID, false, o.Actor, o.Clock.Now())
	}()
	victim := router.Attributes{Priority: 100, Channel: "chat", Tier: "gold"}
	for i := 0; i < count; i++ {
		if _, err := o.Store.Enqueue(ctx, router.EnqueueRequest{OrgID: org, QueueID: top.ID,
			Attributes: victim.Marshal(), EnqueuedAt: o.Clock.Now()}); err != nil {
			return nil, err
		}
	}
	return o.Drill(ctx, kind, org, count)
}
