package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routeops/routeops/internal/harness"
	"github.com/routeops/routeops/router/pgstore/pgtest"
)

// An SSH client address, as sshd puts it in SSH_CONNECTION.
const (
	sshClient     = "198.51.100.7"
	sshConnection = sshClient + " 52314 10.0.0.5 22"
)

// TestMutationsNeedYesAndRespectReadOnly: every mutation (quarantine, release, pause, resume,
// repair apply, cleanup apply, drill inject) is refused with exit 2 and a
// message saying read-only under --read-only, and with exit 2 without --yes
// when there is no terminal, changing nothing either way; drill inject is
// refused on a database not marked for drills and works with a config file
// that sets drill.allow; the operator and their SSH origin are journalled.
func TestMutationsNeedYesAndRespectReadOnly(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	c.Must("seed", "--orgs", "3", "--agents-per-org", "3", "--capacity", "5", "--items-per-org", "10")
	d := pgtest.Connect(t, dsn)
	// Something for every mutation to act on.
	q := d.Int(`SELECT min(id) FROM work_items WHERE org_id = 'org-0001'`)   // queued: to quarantine
	rel := d.Int(`SELECT max(id) FROM work_items WHERE org_id = 'org-0001'`) // quarantined: to release
	dmg := d.Int(`SELECT min(id) FROM work_items WHERE org_id = 'org-0002'`) // missing revision: to repair
	c.Must("quarantine", fmt.Sprint(rel), "--reason", "setup", "--yes")
	c.Must("pause", "org-0002/default", "--reason", "test", "--yes") // paused: to resume
	d.DeleteCurrentRevisions(dmg)
	d.Exec(`UPDATE work_item_revisions SET created_at = now() - interval '40 days'`) // old: to clean up
	if n := d.Int(`SELECT count(*) FROM work_item_revisions r WHERE NOT EXISTS (SELECT 1 FROM work_items w
		WHERE w.org_id = r.org_id AND w.current_revision_id = r.id)`); n == 0 {
		t.Fatal("the seed left no superseded revision for cleanup to act on")
	}
	drillCfg := filepath.Join(t.TempDir(), "drill.yaml")
	if err := os.WriteFile(drillCfg, []byte("drill: {allow: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	mutations := []struct {
		name string
		args []string
		// noYes is what the refusal without --yes must say.
		noYes string
	}{
		{"quarantine", []string{"quarantine", fmt.Sprint(q), "--reason", "test"}, "--yes"},
		{"release", []string{"release", fmt.Sprint(rel)}, "--yes"},
		{"pause", []string{"pause", "org-0001/default", "--reason", "test"}, "--yes"},
		{"resume", []string{"resume", "org-0002/default"}, "--yes"},
		{"repair apply", []string{"repair", "apply"}, "--yes"},
		{"cleanup apply", []string{"cleanup", "apply", "--older-than", "720h"}, "--yes"},
		{"drill inject (drill.allow in --config)", []string{"drill", "inject", "missing-revisions", "--org", "org-0003",
			"--count", "2", "--config", drillCfg}, "--yes"},
		{"drill inject (database not marked for drills)", []string{"drill", "inject", "missing-revisions", "--org",
			"org-0003", "--count", "2"}, "drill.allow"},
	}
	for _, m := range mutations {
		before := d.Digest()
		r := c.Run(append(append([]string{}, m.args...), "--read-only", "--yes")...)
		if r.Code != 2 || !strings.Contains(strings.ToLower(r.Stderr), "read-only") {
			t.Errorf("%s --read-only --yes: want exit 2 and a message saying read-only:\n%s", m.name, r)
		}
		if d.Digest() != before {
			t.Errorf("%s --read-only changed the database", m.name)
		}
		r = c.Run(m.args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, m.noYes) {
			t.Errorf("%s without --yes and without a terminal: want exit 2 and a message mentioning %s:\n%s", m.name, m.noYes, r)
		}
		if d.Digest() != before {
			t.Errorf("%s without --yes changed the database", m.name)
		}
	}
	// A database not marked for drills refuses them even with --yes.
	before := d.Digest()
	if r := c.Run("drill", "inject", "missing-revisions", "--org", "org-0003", "--count", "2", "--yes"); r.Code != 2 ||
		!strings.Contains(r.Stderr, "drill.allow") {
		t.Errorf("drill inject on a database without drill.allow: want exit 2 naming drill.allow:\n%s", r)
	}
	if d.Digest() != before {
		t.Errorf("a refused drill changed the database")
	}

	// With --yes: done, and journalled with who and from where.
	ssh := c.With("SSH_CONNECTION="+sshConnection, "USER=dave")
	ssh.Must("quarantine", fmt.Sprint(q), "--reason", "suspicious head", "--yes")
	ssh.Must("release", fmt.Sprint(rel), "--yes", "--operator", "carol")
	ssh.Must("repair", "apply", "--yes")
	ssh.Must("pause", "org-0001/default", "--reason", "test", "--yes")
	r := ssh.Must("drill", "inject", "missing-revisions", "--org", "org-0003", "--count", "2", "--yes", "--config", drillCfg)
	if n := d.Int(`SELECT count(*) FROM work_items w WHERE w.org_id = 'org-0003' AND w.state = 'queued' AND NOT EXISTS (
		SELECT 1 FROM work_item_revisions r WHERE r.org_id = w.org_id AND r.id = w.current_revision_id)`); n != 2 {
		t.Errorf("after drill inject --count 2, %d queued items of org-0003 lack their revision, want 2:\n%s", n, r)
	}
	audit := []struct {
		kind                  string
		item                  int64
		actor, origin, osUser string
	}{
		{"quarantined", q, "dave", sshClient, "dave"},
		{"released", rel, "carol", sshClient, "dave"},
		{"revision_repaired", dmg, "dave", sshClient, "dave"},
	}
	for _, a := range audit {
		got := d.Str(`SELECT coalesce(string_agg(concat_ws(' ', actor, origin, os_user), '; '), '(none)') FROM events
			WHERE kind = $1 AND work_item_id = $2 AND actor <> $3`, a.kind, a.item, harness.OperatorUser)
		if want := a.actor + " " + a.origin + " " + a.osUser; got != want {
			t.Errorf("%s event of item %d: actor, origin, OS user %q, want %q", a.kind, a.item, got, want)
		}
	}
	for _, kind := range []string{"queue_paused", "drill_injected"} {
		got := d.Str(`SELECT coalesce(string_agg(concat_ws(' ', actor, origin), '; '), '(none)') FROM events
			WHERE kind = $1 AND actor <> $2`, kind, harness.OperatorUser)
		if want := "dave " + sshClient; got != want {
			t.Errorf("%s event: actor and origin %q, want %q", kind, got, want)
		}
	}
	// Without SSH_CONNECTION the origin is local.
	if got := d.Str(`SELECT origin FROM events WHERE kind = 'quarantined' AND work_item_id = $1 AND actor = $2`,
		rel, harness.OperatorUser); got != "local" {
		t.Errorf("origin of a local operator's quarantine is %q, want local", got)
	}
}

// itemPage is `items list -o json`.
type itemPage struct {
	Items []struct {
		ID    int64  `json:"id"`
		Org   string `json:"org"`
		Queue string `json:"queue"`
		State string `json:"state"`
	} `json:"items"`
	Next int64 `json:"next"`
}

// TestItemsAndQueues: items list pages by id; items show gives the revision
// chain, the events and the last error; quarantine and release refuse
// wrong states, unknown ids, other orgs' ids and malformed ids with clear
// messages, are harmless when repeated, and release keeps the original
// enqueued_at; pause and resume take org/queue.
func TestItemsAndQueues(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := harness.New(t, dsn)
	// 2 agents x 5 = 10 capacity for 30 items per org: some items stay queued.
	c.Must("seed", "--orgs", "2", "--agents-per-org", "2", "--capacity", "5", "--items-per-org", "30")
	d := pgtest.Connect(t, dsn)
	// An item with a history whose current revision goes missing.
	bad := d.Int(`SELECT work_item_id FROM work_item_revisions WHERE org_id = 'org-0001'
		GROUP BY work_item_id HAVING count(*) >= 2 ORDER BY work_item_id LIMIT 1`)
	history := d.Ints(`SELECT id FROM work_item_revisions WHERE work_item_id = $1 ORDER BY id`, bad)
	d.DeleteCurrentRevisions(bad)
	c.Must("serve", "--until-idle")

	// items list: pages of --limit, cursor in next, until next is 0.
	want := d.Ints(`SELECT id FROM work_items WHERE org_id = 'org-0001' ORDER BY id`)
	var got []int64
	after, pages := int64(0), 0
	for {
		var p itemPage
		c.MustJSON(&p, 0, "items", "list", "--org", "org-0001", "--limit", "7", "--after", fmt.Sprint(after), "-o", "json")
		pages++
		if len(p.Items) > 7 || pages > 20 {
			t.Fatalf("page %d has %d items (limit 7)", pages, len(p.Items))
		}
		for _, it := range p.Items {
			if it.Org != "org-0001" {
				t.Errorf("items list --org org-0001 listed item %d of %s", it.ID, it.Org)
			}
			got = append(got, it.ID)
		}
		if p.Next == 0 {
			break
		}
		if len(p.Items) == 0 || p.Next != p.Items[len(p.Items)-1].ID {
			t.Fatalf("page %d: next %d is not the last id on the page", pages, p.Next)
		}
		after = p.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paging through items list gave\n  %v\nwant, in id order,\n  %v", got, want)
	}
	if r := c.Must("items", "list", "--org", "org-0001", "--limit", "5"); !strings.Contains(r.Stdout, fmt.Sprintf("--after %d", want[4])) {
		t.Errorf("the table should tell how to get the next page (--after %d):\n%s", want[4], r)
	}
	var queued itemPage
	c.MustJSON(&queued, 0, "items", "list", "--org", "org-0001", "--state", "queued", "--limit", "1000", "-o", "json")
	if n := d.Int(`SELECT count(*) FROM work_items WHERE org_id = 'org-0001' AND state = 'queued'`); int64(len(queued.Items)) != n || n == 0 {
		t.Errorf("items list --state queued listed %d items, want %d (> 0)", len(queued.Items), n)
	}
	for _, it := range queued.Items {
		if it.State != "queued" {
			t.Errorf("items list --state queued listed item %d in state %s", it.ID, it.State)
		}
	}
	c.Expect(1, "items", "list", "--state", "lost")

	// items show: the chain, the events, the last error.
	var show struct {
		Item struct {
			State     string `json:"state"`
			LastError string `json:"last_error"`
		} `json:"item"`
		CurrentRevision string `json:"current_revision"`
		Revisions       []struct {
			ID int64 `json:"id"`
		} `json:"revisions"`
		Events []struct {
			Kind string `json:"kind"`
		} `json:"events"`
	}
	c.MustJSON(&show, 0, "items", "show", fmt.Sprint(bad), "-o", "json")
	var chain []int64
	for _, r := range show.Revisions {
		chain = append(chain, r.ID)
	}
	kinds := map[string]bool{}
	for _, e := range show.Events {
		kinds[e.Kind] = true
	}
	if show.Item.State != "quarantined" || show.CurrentRevision != "missing" || !strings.Contains(show.Item.LastError, "not found") ||
		fmt.Sprint(chain) != fmt.Sprint(history[:len(history)-1]) || !kinds["item_fault"] || !kinds["quarantined"] {
		t.Errorf("items show %d -o json: state %q, current revision %q, last error %q, chain %v, events %v;"+
			" want quarantined, missing, a not-found error, the surviving revisions %v, item_fault and quarantined events",
			bad, show.Item.State, show.CurrentRevision, show.Item.LastError, chain, kinds, history[:len(history)-1])
	}
	r := c.Must("items", "show", fmt.Sprint(bad))
	for _, w := range []string{"last error:", "MISSING", "item_fault", "quarantined", "journal copy"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("items show %d does not show %q:\n%s", bad, w, r)
		}
	}
	c.Expect(2, "items", "show", fmt.Sprint(bad), "--org", "org-0002")
	c.Expect(2, "items", "show", "99999999")
	c.Expect(1, "items", "show", "abc")

	// Refusals: clear, exit 2 (1 for a malformed id), nothing changed.
	assigned := d.Int(`SELECT min(id) FROM work_items WHERE org_id = 'org-0001' AND state = 'assigned'`)
	other := d.Int(`SELECT min(id) FROM work_items WHERE org_id = 'org-0002' AND state = 'queued'`)
	before := d.Digest()
	refusals := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"quarantine", fmt.Sprint(assigned), "--reason", "x", "--yes"}, 2, "only a queued item can be quarantined"},
		{[]string{"release", fmt.Sprint(assigned), "--yes"}, 2, "only a quarantined or skipped item can be released"},
		{[]string{"quarantine", "99999999", "--reason", "x", "--yes"}, 2, "item 99999999 does not exist"},
		{[]string{"release", "99999999", "--yes"}, 2, "item 99999999 does not exist"},
		{[]string{"quarantine", fmt.Sprint(other), "--org", "org-0001", "--reason", "x", "--yes"}, 2, "does not exist in org org-0001"},
		{[]string{"release", fmt.Sprint(other), "--org", "org-0001", "--yes"}, 2, "does not exist in org org-0001"},
		{[]string{"quarantine", "12x", "--reason", "x", "--yes"}, 1, "malformed item id"},
		{[]string{"release", "-5", "--yes"}, 1, ""},
		{[]string{"quarantine", fmt.Sprint(other), "--yes"}, 1, "--reason"},
		{[]string{"pause", "org-0001/nope", "--reason", "test", "--yes"}, 2, "does not exist"},
		{[]string{"pause", "nope", "--yes"}, 1, "org/queue"},
	}
	for _, f := range refusals {
		r := c.Run(f.args...)
		if r.Code != f.code || !strings.Contains(r.Stdout+r.Stderr, f.says) {
			t.Errorf("want exit %d and a message saying %q:\n%s", f.code, f.says, r)
		}
	}
	if d.Digest() != before {
		t.Errorf("a refused action changed the database")
	}

	// Quarantine and release a queued item: repeats are harmless, and it
	// goes back with its original enqueued_at.
	item := queued.Items[len(queued.Items)-1].ID
	enq := d.Str(`SELECT enqueued_at::text FROM work_items WHERE id = $1`, item)
	for i := 0; i < 2; i++ {
		c.Must("quarantine", fmt.Sprint(item), "--reason", "looks wrong", "--yes")
		if s := d.Str(`SELECT state FROM work_items WHERE id = $1`, item); s != "quarantined" {
			t.Errorf("after quarantine #%d item %d is %s", i+1, item, s)
		}
	}
	for i := 0; i < 2; i++ {
		c.Must("release", fmt.Sprint(item), "--yes")
		if s := d.Str(`SELECT state || ' ' || enqueued_at::text FROM work_items WHERE id = $1`, item); s != "queued "+enq {
			t.Errorf("after release #%d item %d is %q, want %q (its original place in line)", i+1, item, s, "queued "+enq)
		}
	}
	for _, kind := range []string{"quarantined", "released"} {
		if n := d.Int(`SELECT count(*) FROM events WHERE kind = $1 AND work_item_id = $2`, kind, item); n != 1 {
			t.Errorf("%d %s events for item %d after doing it twice, want 1 (a repeat changes nothing)", n, kind, item)
		}
	}

	// Pause and resume org/queue.
	paused := func() string {
		return d.Str(`SELECT paused::text FROM queues WHERE org_id = 'org-0001' AND id = 'default'`)
	}
	c.Must("pause", "org-0001/default", "--reason", "test", "--yes")
	c.Must("pause", "org-0001/default", "--reason", "test", "--yes")
	if paused() != "true" {
		t.Errorf("org-0001/default is not paused after pause")
	}
	var st statusDoc
	c.MustJSON(&st, 0, "status", "-o", "json")
	if _, qd := st.queue("org-0001", "default"); qd == nil || !qd.Paused {
		t.Errorf("status does not show org-0001/default paused: %+v", qd)
	}
	c.Must("resume", "org-0001/default", "--yes")
	c.Must("resume", "org-0001/default", "--yes")
	if paused() != "false" {
		t.Errorf("org-0001/default is still paused after resume")
	}
	for _, kind := range []string{"queue_paused", "queue_resumed"} {
		if n := d.Int(`SELECT count(*) FROM events WHERE kind = $1 AND org_id = 'org-0001' AND queue_id = 'default'`, kind); n != 1 {
			t.Errorf("%d %s events after doing it twice, want 1", n, kind)
		}
	}
	// The table output says what happened.
	r = c.Must("quarantine", fmt.Sprint(item), "--reason", "again", "--yes")
	if !strings.Contains(r.Stdout, "quarantined") {
		t.Errorf("quarantine should say what it did:\n%s", r)
	}
	var outs struct {
		Results []struct {
			Item    string `json:"item"`
			OK      bool   `json:"ok"`
			Changed bool   `json:"changed"`
		} `json:"results"`
	}
	r = c.MustJSON(&outs, 0, "release", fmt.Sprint(item), "--yes", "-o", "json")
	if len(outs.Results) != 1 || !outs.Results[0].OK || !outs.Results[0].Changed {
		t.Errorf("release -o json: %s", r.Stdout)
	}
}
