package tui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/routeops/routeops/router"
)

func TestOrgView(t *testing.T) {
	_, ids, d := stalledDriver(t, worldConfig{}, 80, 24)
	openStalledOrg(t, d)
	v := d.view()
	for _, want := range []string{
		incidentOrg + " ✖ CRIT", "QUEUE", "escalations", "STALLED", "flowing", fmt.Sprint(ids[0]), "missing_revision: curr",
		"Items in escalations · queued · 5", "HEAD · missing_revision", "Agents ·", "available",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("org view lacks %q", want)
		}
	}
	// tab moves the focus; enter on an item opens it; esc comes back.
	d.keys("tab")
	if d.m.org.focus != paneItems {
		t.Fatalf("focus %v after tab", d.m.org.focus)
	}
	d.keys("enter")
	if d.m.view != viewItem || d.m.item.id != ids[0] {
		t.Fatalf("enter on the first item opened %v %d", d.m.view, d.m.item.id)
	}
	v = d.view()
	for _, want := range []string{"Current revision", "MISSING", "Revision chain", "Journal copy (kept on the item)",
		"valid", "Events (", "item_fault", "Last error: current revision"} {
		if !strings.Contains(v, want) {
			t.Errorf("item view lacks %q:\n%s", want, v)
		}
	}
	d.keys("esc")
	if d.m.view != viewOrg {
		t.Fatalf("esc from the item went to %v", d.m.view)
	}
	d.keys("tab", "down", "tab")
	if d.m.org.focus != paneQueues {
		t.Fatalf("three tabs should cycle back to the queues")
	}
	d.keys("esc")
	if d.m.view != viewFleet {
		t.Fatalf("esc from the org went to %v", d.m.view)
	}
}

func TestItemsFilterAndStates(t *testing.T) {
	_, ids, d := stalledDriver(t, worldConfig{}, 100, 30)
	openStalledOrg(t, d)
	d.keys("/")
	if d.m.org.focus != paneItems {
		t.Fatal("/ in the org view filters the items")
	}
	d.typeText(fmt.Sprint(ids[3]))
	d.keys("enter")
	if d.m.itemsLen() != 1 || d.m.itemAt(0).ID != ids[3] {
		t.Fatalf("item filter kept %d", d.m.itemsLen())
	}
	d.wantView(fmt.Sprintf("filter /%d (1)", ids[3]))
	d.keys("esc")
	if d.m.view != viewOrg || d.m.itemsLen() != 5 {
		t.Fatalf("esc should clear the item filter first")
	}
	d.keys("s")
	d.wantView("Items in escalations · quarantined · 0")
	d.keys("s")
	d.wantView("Items in escalations · assigned")
	d.keys("s")
	d.wantView("Items in escalations · queued · 5")
	// i opens the head from the queue pane.
	d.keys("tab", "tab", "i")
	if d.m.view != viewItem || d.m.item.id != ids[0] {
		t.Fatalf("i opened %v %d", d.m.view, d.m.item.id)
	}
}

func TestItemsWindowPages(t *testing.T) {
	w, ids := incidentWorld(t, worldConfig{})
	attrs := []byte(`{"priority":10,"channel":"email"}`)
	last := ids[len(ids)-1]
	for range 445 {
		it, err := w.store.Enqueue(context.Background(), router.EnqueueRequest{OrgID: incidentOrg, QueueID: "escalations",
			Attributes: attrs, EnqueuedAt: w.clk.Now()})
		if err != nil {
			t.Fatal(err)
		}
		last = it.ID
	}
	d := newDriver(t, w.options(), 80, 24)
	d.keys(":")
	d.typeText("org " + incidentOrg)
	d.keys("enter", "tab")
	if len(d.m.org.items) != itemsPage || d.m.org.next == 0 {
		t.Fatalf("first page: %d items, next %d", len(d.m.org.items), d.m.org.next)
	}
	d.wantView("Items in escalations · queued · 200+")
	// Paging to the end loads the rest, a page at a time.
	for range 10 {
		d.keys("end")
	}
	if len(d.m.org.items) != 450 || d.m.org.next != 0 {
		t.Fatalf("after paging: %d items, next %d", len(d.m.org.items), d.m.org.next)
	}
	d.wantView(fmt.Sprintf("> %d", last))
	// Only the visible rows are drawn.
	n := 0
	for _, l := range lines(d.view()) {
		if strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "> ") {
			if f := strings.Fields(l); len(f) > 1 && f[0] != "ITEM" {
				if _, err := fmt.Sscan(strings.TrimPrefix(strings.TrimSpace(l), "> "), new(int64)); err == nil {
					n++
				}
			}
		}
	}
	if n > d.m.orgLayout().iRows {
		t.Fatalf("%d item rows drawn, window is %d", n, d.m.orgLayout().iRows)
	}
	// A refresh keeps the whole window and the selection.
	d.keys("r")
	if len(d.m.org.items) != 450 || d.m.selectedItem().ID != last {
		t.Fatalf("refresh: %d items, selected %d", len(d.m.org.items), d.m.selectedItem().ID)
	}
}

func TestTimelineKey(t *testing.T) {
	_, _, d := stalledDriver(t, worldConfig{}, 120, 40)
	openStalledOrg(t, d)
	d.keys("t")
	if d.m.view != viewTimeline || d.m.tl.org != incidentOrg {
		t.Fatalf("t in the org view opened %v %q", d.m.view, d.m.tl.org)
	}
	d.wantView("Timeline of " + incidentOrg)
	d.wantView("Faults 5 on 1 items")
	d.keys("end", "home", "esc")
	if d.m.view != viewOrg {
		t.Fatalf("esc from the timeline went to %v", d.m.view)
	}
}
