package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/routeops/routeops/router"
)

// Untrusted input: what every store refuses at the door, whoever writes.
var untrustedTests = []suiteTest{
	{"Untrusted/IDsWithControlOrBidiRefused", testUnsafeIDsRefused},
	{"Untrusted/OversizedAttributesRefused", testOversizedAttributesRefused},
	{"Untrusted/JournalVerified", testJournalVerified},
	{"Untrusted/ReleaseChecksTheRevision", testReleaseChecksTheRevision},
}

// hostileIDs are ids a store must refuse: terminal escapes (a title, OSC
// 52 clipboard write, a screen clear), C1 controls, a right-to-left
// override, a bell, a line separator, empty, too long, not UTF-8.
var hostileIDs = []string{
	"evil\x1b]0;pwned\x07", "clip\x1b]52;c;cHduZWQ=\x07", "cls\x1b[2J", "c1\u009b31m", "osc\u009d0;x",
	"rtl\u202eexe.txt", "bell\a", "tab\tid", "line\u2028sep", "lrm\u200e", "iso\u2066x", "",
	strings.Repeat("x", router.MaxIDLen+1), "bad\xffutf8",
}

func testUnsafeIDsRefused(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	f.agent("o1", "a1", "t1", router.AgentAvailable, 1)
	for _, id := range hostileIDs {
		for what, err := range map[string]error{
			"org":   s.UpsertOrg(f.ctx, router.Org{ID: id}),
			"queue": s.UpsertQueue(f.ctx, router.Queue{OrgID: "o1", ID: id}),
			"team":  s.UpsertTeam(f.ctx, router.Team{OrgID: "o1", ID: id}),
			"agent": s.UpsertAgent(f.ctx, router.Agent{OrgID: "o1", ID: id, TeamID: "t1", Capacity: 1}),
		} {
			if !errors.Is(err, router.ErrBadID) {
				t.Errorf("Upsert %s %q: %v, want an error wrapping ErrBadID", what, id, err)
			}
		}
		err := func() error {
			_, err := s.BulkLoad(f.ctx, &router.BulkData{Orgs: []router.Org{{ID: "bulk"}}, Queues: []router.Queue{{OrgID: "bulk", ID: id}}})
			return err
		}()
		if !errors.Is(err, router.ErrBadID) {
			t.Errorf("BulkLoad of queue %q: %v, want an error wrapping ErrBadID", id, err)
		}
	}
	orgs, err := s.ListOrgs(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orgs {
		if o != "o1" && o != "bulk" {
			t.Errorf("a refused org was stored: %q", o)
		}
	}
	qs, err := s.ListQueues(f.ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || qs[0].ID != "q" {
		t.Errorf("queues of o1 after refusals: %+v", qs)
	}
	// Names in any script are fine.
	for _, id := range []string{"équipe-nord", "東京", "org with spaces", "émoji-🚀", strings.Repeat("y", router.MaxIDLen)} {
		f.org(id)
		f.queue(id, id, 0, false)
		f.team(id, id, router.TeamActive)
		f.agent(id, id, id, router.AgentAvailable, 1)
	}
}

func testOversizedAttributesRefused(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	// Valid JSON, well over the default limit of 64 KiB, and just under it.
	big := []byte(`{"priority": 5, "channel": "chat", "tier": "` + strings.Repeat("x", 80<<10) + `"}`)
	under := []byte(`{"priority": 5, "channel": "chat", "tier": "` + strings.Repeat("x", 60<<10) + `"}`)
	wantRefused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, router.ErrAttributesTooLarge) || !errors.Is(err, router.ErrInvalidJSON) {
			t.Errorf("%s: %v, want an error wrapping ErrAttributesTooLarge (and so ErrInvalidJSON)", what, err)
		}
	}
	_, err := s.Enqueue(f.ctx, router.EnqueueRequest{OrgID: "o1", QueueID: "q", Attributes: big, EnqueuedAt: sec(1)})
	wantRefused("Enqueue", err)
	it := f.enqueue("o1", "q", attrs(1, "chat"), sec(2))
	_, err = s.AddRevision(f.ctx, router.AddRevisionRequest{Org: "o1", ItemID: it.ID, Attributes: big, At: sec(3)})
	wantRefused("AddRevision", err)
	_, err = s.BulkLoad(f.ctx, &router.BulkData{Items: []router.BulkItem{{OrgID: "o1", QueueID: "q", EnqueuedAt: sec(4),
		Revisions: []router.BulkRevision{{Attributes: big, CreatedAt: sec(4)}}}}})
	wantRefused("BulkLoad", err)
	if items := f.allItems("o1"); len(items) != 1 || items[0].ID != it.ID {
		t.Fatalf("items after the refusals: %+v, want only item %d", items, it.ID)
	}
	if revs := f.revisions("o1", it.ID); len(revs) != 1 {
		t.Fatalf("item %d has %d revisions after a refused one, want 1", it.ID, len(revs))
	}
	// Under the limit a document is stored as given (and is corrupt: the
	// tier is too long), and the engine faults it as corrupt_revision.
	u := f.enqueue("o1", "q", under, sec(5))
	if r := f.revisions("o1", u.ID); len(r) != 1 || r[0].Oversized || len(r[0].Attributes) == 0 || r[0].Bytes < 60<<10 {
		t.Fatalf("a document under the limit: %+v", r)
	}
}

func testJournalVerified(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	it := f.enqueue("o1", "q", attrs(3, "chat"), sec(1))
	if !it.JournalVerified || !f.item(it.ID).JournalVerified {
		t.Fatalf("a journal copy written with the revision is not verified: %+v", it)
	}
	f.addRevision("o1", it.ID, attrs(4, "email"), sec(2))
	got := f.item(it.ID)
	if !got.JournalVerified || got.JournalBytes != len(attrs(4, "email")) {
		t.Fatalf("after AddRevision: verified %v, bytes %d", got.JournalVerified, got.JournalBytes)
	}
	// Lists leave the journal copy's attributes out.
	for _, l := range f.listItems(router.ItemFilter{Org: "o1"}) {
		if l.JournalAttributes != nil {
			t.Fatalf("ListItems carries the journal copy: %s", l.JournalAttributes)
		}
	}
}

// testReleaseChecksTheRevision: an item quarantined for a broken current
// revision (invalid, or missing) is not released, which would only fault
// it again, unless forced; a forced release says so in its event.
func testReleaseChecksTheRevision(t *testing.T, s router.Store) {
	f := newFx(t, s)
	f.basicOrg("o1")
	bad := f.enqueue("o1", "q", badChannelAttrs, sec(1))
	gone := f.enqueue("o1", "q", attrs(1, "chat"), sec(2))
	good := f.enqueue("o1", "q", attrs(1, "chat"), sec(3))
	f.fault("o1", bad.ID, router.CauseCorruptRevision, "bad channel", router.PolicyQuarantine, sec(4))
	f.quarantine("o1", good.ID, "looked odd", sec(5))
	if del, err := drillerOf(t, s).DrillDeleteRevisions(f.ctx, router.DrillRequest{Org: "o1", Count: 1, Actor: operator, At: sec(6)}); err != nil || len(del) != 1 || del[0] != gone.ID {
		t.Fatalf("DrillDeleteRevisions = %v, %v; want [%d]", del, err, gone.ID)
	}
	f.quarantine("o1", gone.ID, "revision gone", sec(7))
	for id, verdict := range map[int64]string{bad.ID: "invalid", gone.ID: "missing"} {
		_, err := s.Release(f.ctx, router.ReleaseRequest{Org: "o1", ItemID: id, Actor: operator, At: sec(8)})
		wantConflict(t, "release of an item with a broken revision", err)
		if !strings.Contains(err.Error(), verdict) || !strings.Contains(err.Error(), "repair it first") {
			t.Errorf("release refusal %q does not say the revision is %s and to repair it first", err, verdict)
		}
		wantState(t, f.item(id), router.StateQuarantined)
		if evs := f.itemEvents("o1", id, router.EventReleased); len(evs) != 0 {
			t.Errorf("a refused release was journalled: %+v", evs)
		}
	}
	if r := f.release("o1", good.ID, sec(9)); !r.Changed {
		t.Fatalf("release of an item with a valid revision: %+v", r)
	}
	r, err := s.Release(f.ctx, router.ReleaseRequest{Org: "o1", ItemID: gone.ID, Force: true, Actor: operator, At: sec(10)})
	if err != nil || !r.Changed || r.State != router.StateQueued {
		t.Fatalf("forced release: %+v, %v", r, err)
	}
	evs := f.itemEvents("o1", gone.ID, router.EventReleased)
	var d struct {
		Forced   bool   `json:"forced"`
		Revision string `json:"revision"`
	}
	if len(evs) != 1 || json.Unmarshal(evs[0].Detail, &d) != nil || !d.Forced || d.Revision != "missing" {
		t.Fatalf("forced release's event: %+v", evs)
	}
}
