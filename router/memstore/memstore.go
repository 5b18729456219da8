// Package memstore is the embedded, in-process Store: the zero-setup demo,
// drills, and fast tests. One mutex serialises every operation, which
// gives it the same all-or-nothing transactions as pgstore. Its files
// follow router.Store's capabilities, named like pgstore's and storetest's.
package memstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/routeops/routeops/router"
)

// Store is the in-memory store.
type Store struct {
	mu         sync.Mutex
	orgs       map[string]*orgData
	items      map[int64]*router.WorkItem
	revisions  map[int64]*router.Revision
	itemRevs   map[int64][]int64 // item id -> revision ids, oldest first
	events     []router.Event
	heartbeats map[string]router.Heartbeat
	nextItem   int64
	nextRev    int64
	nextEvent  int64
	subs       map[chan string]struct{}
	closed     bool
	// operations are the bulk actions, by id.
	operations map[string]*operation
}

type orgData struct {
	org    router.Org
	queues map[string]*queueData
	teams  map[string]*router.Team
	agents map[string]*router.Agent
	// queued holds the ids of queued items per queue id (including queue
	// ids that do not exist: orphans).
	queued map[string]map[int64]struct{}
}

type queueData struct {
	q            router.Queue
	lastAssigned *time.Time
	lastRouted   *time.Time  // when a routing call last claimed from it
	assignedAt   []time.Time // recent assignment times, pruned past 5 minutes
	stalledSince *time.Time
	stallCause   router.Cause
}

var (
	_ router.Store   = (*Store)(nil)
	_ router.Driller = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		orgs:       map[string]*orgData{},
		items:      map[int64]*router.WorkItem{},
		revisions:  map[int64]*router.Revision{},
		itemRevs:   map[int64][]int64{},
		heartbeats: map[string]router.Heartbeat{},
		subs:       map[chan string]struct{}{},
	}
}

func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for ch := range s.subs {
		close(ch)
		delete(s.subs, ch)
	}
}

func (s *Store) Describe() string { return "embedded demo (in-process store)" }

func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("memstore: closed")
	}
	return nil
}

// lock takes the store mutex after checking the context, as a database
// call would.
func (s *Store) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("memstore: closed")
	}
	return nil
}

func (s *Store) notify(org string) {
	for ch := range s.subs {
		select {
		case ch <- org:
		default:
		}
	}
}

func (s *Store) org(id string) (*orgData, error) {
	o := s.orgs[id]
	if o == nil {
		return nil, router.NotFoundf("org %s does not exist", id)
	}
	return o, nil
}

func (s *Store) appendEvent(ev router.Event) {
	s.nextEvent++
	ev.ID = s.nextEvent
	if ev.Detail == nil {
		ev.Detail = []byte(`{}`)
	}
	s.events = append(s.events, ev)
}

func actorEvent(org, kind string, item int64, queue string, a router.Actor, at time.Time, detail []byte) router.Event {
	return router.Event{OrgID: org, At: at.UTC(), Kind: kind, WorkItemID: item, QueueID: queue,
		Actor: a.Name, Origin: a.Origin, OSUser: a.OSUser, Detail: detail}
}

func (s *Store) newRevision(org string, item int64, attrs []byte, at time.Time, source string) *router.Revision {
	s.nextRev++
	r := &router.Revision{OrgID: org, ID: s.nextRev, WorkItemID: item, Attributes: bytes.Clone(attrs),
		CreatedAt: at.UTC(), Source: source, Bytes: len(attrs)}
	s.revisions[r.ID] = r
	s.itemRevs[item] = append(s.itemRevs[item], r.ID)
	return r
}

// checkAttributes refuses attribute bytes that are not JSON, or over the
// size limit (this store's is router.MaxAttributesBytes), as pgstore does.
func checkAttributes(b []byte) error {
	if len(b) > router.MaxAttributesBytes {
		return router.TooLargef("%d bytes, the limit is %d", len(b), router.MaxAttributesBytes)
	}
	if !json.Valid(b) {
		return router.ErrInvalidJSON
	}
	return nil
}

func (o *orgData) addQueued(it *router.WorkItem) {
	m := o.queued[it.QueueID]
	if m == nil {
		m = map[int64]struct{}{}
		o.queued[it.QueueID] = m
	}
	m[it.ID] = struct{}{}
}

func (o *orgData) removeQueued(it *router.WorkItem) {
	if m := o.queued[it.QueueID]; m != nil {
		delete(m, it.ID)
	}
}

// ---- helpers ----

func cloneItem(it *router.WorkItem) router.WorkItem {
	c := *it
	c.JournalAttributes = bytes.Clone(it.JournalAttributes)
	c.JournalBytes = len(it.JournalAttributes)
	if it.AssignedAt != nil {
		t := *it.AssignedAt
		c.AssignedAt = &t
	}
	if it.CompletedAt != nil {
		t := *it.CompletedAt
		c.CompletedAt = &t
	}
	if it.LastAttemptAt != nil {
		t := *it.LastAttemptAt
		c.LastAttemptAt = &t
	}
	return c
}

func cloneRevision(r *router.Revision) router.Revision {
	c := *r
	c.Attributes = bytes.Clone(r.Attributes)
	return c
}

// Compact forgets completed and cancelled items that finished before
// cutoff, with their revisions and the journal entries about them, so that
// a long-running demo keeps a bounded footprint. Journal entries about no
// item (stalls, cleanups, drills, pauses) are kept. It returns how many
// items it removed. PostgreSQL keeps everything; this is memstore only.
func (s *Store) Compact(cutoff time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[int64]bool{}
	for id, it := range s.items {
		done := it.CompletedAt
		if it.State == router.StateCancelled && done == nil {
			done = &it.EnqueuedAt
		}
		if (it.State == router.StateCompleted || it.State == router.StateCancelled) && done != nil && done.Before(cutoff) {
			gone[id] = true
		}
	}
	if len(gone) == 0 {
		return 0
	}
	for id := range gone {
		for _, rid := range s.itemRevs[id] {
			delete(s.revisions, rid)
		}
		delete(s.itemRevs, id)
		delete(s.items, id)
	}
	keep := s.events[:0]
	for _, e := range s.events {
		if e.WorkItemID != 0 && gone[e.WorkItemID] {
			continue
		}
		keep = append(keep, e)
	}
	// Let the dropped tail be collected.
	clear(s.events[len(keep):])
	s.events = keep
	return len(gone)
}
