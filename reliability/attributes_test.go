package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/router"
	"github.com/routeops/routeops/router/memstore"
	"github.com/routeops/routeops/router/pgstore"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

func nested(depth int) string {
	return `{"priority": 5, "channel": "chat", "team": ` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`
}

// hostileAttributes are revision attributes a broken or hostile writer
// could send: huge, deeply nested, of the wrong type, not UTF-8, not JSON.
var hostileAttributes = []struct{ name, attrs string }{
	{"huge-70KiB", `{"priority": 5, "channel": "chat", "tier": "` + strings.Repeat("x", 70<<10) + `"}`},
	{"huge-256KiB-skills", `{"priority": 5, "channel": "chat", "skills": [` + strings.Repeat(`"s",`, 64<<10) + `"s"]}`},
	{"deep-100", nested(100)},
	{"deep-1000", nested(1000)},
	{"deep-5000", nested(5000)},
	{"deep-20000", nested(20000)},
	{"priority-string", `{"priority": "high", "channel": "chat"}`},
	{"priority-float", `{"priority": 5.5, "channel": "chat"}`},
	{"priority-exponent", `{"priority": 1e2, "channel": "chat"}`},
	{"priority-negative", `{"priority": -1, "channel": "chat"}`},
	{"priority-101", `{"priority": 101, "channel": "chat"}`},
	{"priority-huge", `{"priority": 123456789012345678901234567890, "channel": "chat"}`},
	{"channel-number", `{"priority": 5, "channel": 7}`},
	{"channel-unknown", `{"priority": 5, "channel": "fax"}`},
	{"skills-string", `{"priority": 5, "channel": "chat", "skills": "en"}`},
	{"skills-numbers", `{"priority": 5, "channel": "chat", "skills": [1, 2]}`},
	{"team-object", `{"priority": 5, "channel": "chat", "team": {"id": "t"}}`},
	{"unknown-key", `{"priority": 5, "channel": "chat", "colour": "red"}`},
	{"duplicate-key", `{"priority": 5, "channel": "chat", "priority": "x"}`},
	{"top-array", `[{"priority": 5, "channel": "chat"}]`},
	{"top-string", `"priority"`},
	{"top-number", `42`},
	{"top-null", `null`},
	{"top-true", `true`},
	{"empty-object", `{}`},
	{"not-utf8-in-string", "{\"priority\": 5, \"channel\": \"chat\", \"tier\": \"g\xffld\"}"},
	{"not-utf8-outside", "\xff{\"priority\": 5, \"channel\": \"chat\"}"},
	{"latin1", "{\"priority\": 5, \"channel\": \"chat\", \"tier\": \"caf\xe9\"}"},
	{"nul-escape", `{"priority": 5, "channel": "chat", "tier": "a\u0000b"}`},
	{"lone-surrogate", `{"priority": 5, "channel": "chat", "tier": "\ud800"}`},
	{"bom", "\xef\xbb\xbf{\"priority\": 5, \"channel\": \"chat\"}"},
	{"empty", ``},
	{"whitespace", "  \n\t "},
	{"truncated", `{"priority": 5, "channel": "ch`},
	{"trailing-garbage", `{"priority": 5, "channel": "chat"} x`},
	{"two-objects", `{"priority": 5, "channel": "chat"}{"priority": 6, "channel": "chat"}`},
	{"not-json", `priority=5&channel=chat`},
}

// TestHostileAttributes writes every hostile attribute set through Enqueue
// and through AddRevision, on both stores, between valid items, and routes.
// Each is either refused at once with an error wrapping ErrInvalidJSON (not
// JSON at all) or stored as given and then quarantined by the engine as a
// corrupt_revision, with item_fault and quarantined events, without
// blocking the valid items behind it. Nothing crashes, verify reports
// exactly the hostile items, and on PostgreSQL the CLI shows them (items
// show, repair plan, status -o json) without failing.
func TestHostileAttributes(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		st := memstore.New()
		t.Cleanup(st.Close)
		hostileOn(t, st, nil)
	})
	t.Run("pgstore", func(t *testing.T) {
		dsn := pgtest.NewDB(t)
		st := openStore(t, dsn, pgstore.Options{})
		hostileOn(t, st, newHarness(t, dsn))
	})
}

func hostileOn(t *testing.T, st router.Store, h *rig) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.UpsertOrg(ctx, router.Org{ID: "o"}))
	must(st.UpsertQueue(ctx, router.Queue{OrgID: "o", ID: "q"}))
	must(st.UpsertTeam(ctx, router.Team{OrgID: "o", ID: "t", Status: router.TeamActive}))
	must(st.UpsertAgent(ctx, router.Agent{OrgID: "o", ID: "a", TeamID: "t", Status: router.AgentAvailable, Capacity: 1000}))
	at := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	good := func() int64 {
		t.Helper()
		at = at.Add(time.Second)
		it, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o", QueueID: "q", Attributes: []byte(`{"priority": 100, "channel": "chat"}`), EnqueuedAt: at})
		must(err)
		return it.ID
	}
	var goods []int64
	accepted := map[int64]string{}
	var refusedNames []string
	for _, c := range hostileAttributes {
		goods = append(goods, good())
		at = at.Add(time.Second)
		// Highest priority, so that each sits at the head of the queue.
		it, err := st.Enqueue(ctx, router.EnqueueRequest{OrgID: "o", QueueID: "q", Attributes: []byte(c.attrs), EnqueuedAt: at})
		switch {
		case err == nil:
			accepted[it.ID] = "enqueue " + c.name
		case errors.Is(err, router.ErrInvalidJSON):
			refusedNames = append(refusedNames, "enqueue "+c.name)
		default:
			t.Errorf("Enqueue(%s): %v: want success or an error wrapping ErrInvalidJSON", c.name, err)
		}
		// The same through AddRevision, on a valid queued item.
		id := good()
		_, err = st.AddRevision(ctx, router.AddRevisionRequest{Org: "o", ItemID: id, Attributes: []byte(c.attrs), At: at.Add(time.Millisecond)})
		switch {
		case err == nil:
			accepted[id] = "revision " + c.name
		case errors.Is(err, router.ErrInvalidJSON):
			goods = append(goods, id)
			refusedNames = append(refusedNames, "revision "+c.name)
			if it, err := st.GetItem(ctx, id); err != nil || it.JournalAttributes == nil || !json.Valid(it.JournalAttributes) {
				t.Errorf("a refused AddRevision(%s) changed the item: %v %+v", c.name, err, it)
			}
		default:
			goods = append(goods, id)
			t.Errorf("AddRevision(%s): %v: want success or an error wrapping ErrInvalidJSON", c.name, err)
		}
	}
	t.Logf("%d hostile writes stored as given, %d refused as not JSON: %v", len(accepted), len(refusedNames), refusedNames)

	eng := router.NewEngine(st, router.EngineConfig{ID: "hostile", BatchSize: 7})
	if _, err := eng.RunUntilIdle(ctx); err != nil {
		t.Fatal(err)
	}

	// What the engine does follows the stored bytes: a store may normalise
	// JSON (jsonb turns 1e2 into 100), so the stored revision decides
	// whether the item was valid after all.
	invalid := map[int64]string{}
	for id, name := range accepted {
		it, err := st.GetItem(ctx, id)
		must(err)
		revs, err := st.ItemRevisions(ctx, "o", id)
		must(err)
		var stored []byte
		for _, r := range revs {
			if r.ID == it.CurrentRevisionID {
				stored = r.Attributes
			}
		}
		evs, err := st.Events(ctx, router.EventFilter{ItemID: id})
		must(err)
		kinds := map[string]int{}
		for _, e := range evs {
			kinds[e.Kind]++
		}
		if router.ValidateAttributes(stored) == nil {
			if it.State != router.StateAssigned || kinds[router.EventAssigned] != 1 {
				t.Errorf("%s (item %d): stored as %.100q, which is valid, but the item is %s with events %v", name, id, stored, it.State, kinds)
			}
			t.Logf("%s: stored as %.100q, which validates: routed normally", name, stored)
			continue
		}
		invalid[id] = name
		if it.State != router.StateQuarantined || it.FaultCause != router.CauseCorruptRevision ||
			kinds[router.EventItemFault] != 1 || kinds[router.EventQuarantined] != 1 || kinds[router.EventAssigned] != 0 {
			t.Errorf("%s (item %d): %s, cause %q, events %v; want quarantined as corrupt_revision", name, id, it.State, it.FaultCause, kinds)
		}
	}
	for _, id := range goods {
		it, err := st.GetItem(ctx, id)
		must(err)
		if it.State != router.StateAssigned {
			t.Errorf("valid item %d is %s: a hostile item blocked it", id, it.State)
		}
	}
	rep, err := st.Verify(ctx, 1000)
	must(err)

	var found []string
	for _, f := range rep.Findings {
		if f.Kind != router.FindingInvalidAttributes {
			t.Errorf("unexpected finding %+v", f)
		}
		if _, ok := invalid[f.ItemID]; !ok {
			t.Errorf("verify flags item %d, which is not hostile: %+v", f.ItemID, f)
		}
		found = append(found, fmt.Sprint(f.ItemID))
	}
	if len(found) != len(invalid) {
		sort.Strings(found)
		t.Errorf("verify found %d invalid items %v, the engine quarantined %d", len(found), found, len(invalid))
	}
	if h == nil {
		return
	}
	// The CLI shows hostile data without failing or breaking its JSON.
	for id, name := range accepted {
		if !strings.HasPrefix(name, "enqueue ") {
			continue // one of each: the revision variants show the same data
		}
		r := h.run(nil, "items", "show", fmt.Sprint(id), "-o", "json")
		if r.Code != 0 || !json.Valid([]byte(r.Stdout)) {
			t.Errorf("items show %d (%s): exit %d, valid JSON %v\n%.500s", id, name, r.Code, json.Valid([]byte(r.Stdout)), r.Stderr)
		}
	}
	for _, args := range [][]string{{"repair", "plan", "-o", "json"}, {"status", "-o", "json"}, {"items", "list", "--limit", "500", "-o", "json"},
		{"timeline", "--since", "87600h", "-o", "json"}} {
		r := h.run(nil, args...)
		if r.Code != 0 || !json.Valid([]byte(r.Stdout)) {
			t.Errorf("%v: exit %d, valid JSON %v\n%.2000s", args, r.Code, json.Valid([]byte(r.Stdout)), r.Stderr)
		}
	}
}
