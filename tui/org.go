package tui

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

type pane uint8

const (
	paneQueues pane = iota
	paneItems
	paneAgents
)

// orgState is the org view: its queues come from the snapshot, its items
// and agents from their own queries.
type orgState struct {
	name             string
	oh               *ops.OrgHealth // in the current snapshot; nil when absent
	focus            pane
	qCursor, qOffset int
	queue            string
	state            router.ItemState
	items            []router.WorkItem
	next             int64
	key              string // org/queue/state of items
	loading          bool
	iCursor, iOffset int
	filter           string
	idx              []int32
	agents           []router.Agent
	aCursor, aOffset int
	err              string
	// marks are the items m marked, for x and u.
	marks map[int64]bool
	// attrs are the filter's key=value terms, matched by the store.
	attrs []router.AttrMatch
	// chart is the selected queue's depth and oldest wait over the last
	// half hour.
	chart    *ops.ImpactChart
	chartFor string
}

// orgDataMsg carries a page of a queue's items and the org's agents.
type orgDataMsg struct {
	key    string // org/queue/state the items belong to
	org    string
	page   *ops.ItemPage
	agents []router.Agent
	more   bool // a further page, to append
	err    error
}

func itemsKey(org, queue string, state router.ItemState) string {
	return org + "/" + queue + "/" + string(state)
}

// open shows the org on its first stalled queue (else its worst queue)
// and loads that queue's items.
func (o *orgState) open(c *shared, name string, oh *ops.OrgHealth) tea.Cmd {
	*o = orgState{name: name, oh: oh, state: router.StateQueued}
	if oh != nil && len(oh.Queues) > 0 {
		best := 0
		for i := range oh.Queues {
			q := &oh.Queues[i]
			b := &oh.Queues[best]
			if q.Stalled && !b.Stalled || (q.Stalled == b.Stalled && q.Health.Worse(b.Health)) {
				best = i
			}
		}
		o.qCursor = best
		o.queue = oh.Queues[best].Queue
	}
	o.loading = true
	return tea.Batch(o.fetch(c, 0, itemsPage), o.fetchChart(c, true))
}

// fetch loads the selected queue's items (first page, or the page after
// `after` to append) and the org's agents.
func (o *orgState) fetch(c *shared, after int64, limit int) tea.Cmd {
	org, queue, state, attrs := o.name, o.queue, o.state, o.attrs
	key := itemsKey(org, queue, state) + attrsKey(attrs)
	return c.call(queryTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		msg := orgDataMsg{key: key, org: org, more: after != 0}
		if queue != "" {
			page, err := api.ListSelected(ctx, router.ItemSelector{Org: org, Queue: queue, State: state, Attrs: attrs,
				After: after, Limit: limit})
			if err != nil {
				msg.err = err
				return msg
			}
			msg.page = page
		}
		if after == 0 {
			agents, err := api.Agents(ctx, org)
			if err != nil {
				msg.err = err
				return msg
			}
			msg.agents = agents
		}
		return msg
	})
}

// reload reloads the selected queue's items (as many as are loaded, so
// the window keeps its place) and the agents.
func (o *orgState) reload(c *shared) tea.Cmd {
	limit := clamp(len(o.items), itemsPage, maxItems)
	o.loading = true
	return tea.Batch(o.fetch(c, 0, limit), o.fetchChart(c, false))
}

// synced follows a new snapshot: the org's health, and the same queue
// selected.
func (o *orgState) synced(c *shared) {
	if o.name == "" {
		return
	}
	o.oh = c.findOrg(o.name)
	oh := o.oh
	if oh == nil || len(oh.Queues) == 0 {
		o.qCursor = 0
		return
	}
	for i := range oh.Queues {
		if oh.Queues[i].Queue == o.queue {
			o.qCursor = i
			return
		}
	}
	o.qCursor = clamp(o.qCursor, 0, len(oh.Queues)-1)
	o.queue = oh.Queues[o.qCursor].Queue
}

func (o *orgState) onData(msg orgDataMsg) {
	if msg.org != o.name {
		return
	}
	current := msg.key == o.itemsKey()
	if current {
		o.loading = false
	}
	if msg.err != nil {
		o.err = present.Error(msg.err)
		return
	}
	o.err = ""
	if !msg.more {
		o.agents = msg.agents
		o.aCursor = clamp(o.aCursor, 0, len(o.agents)-1)
	}
	if !current || msg.page == nil {
		if msg.page == nil && !msg.more && o.queue == "" {
			o.items, o.next, o.key, o.idx = nil, 0, msg.key, nil
		}
		return
	}
	if msg.more {
		if o.key != msg.key {
			return
		}
		// A reload may have landed in between: append only what is new.
		var last int64
		if n := len(o.items); n > 0 {
			last = o.items[n-1].ID
		}
		for _, it := range msg.page.Items {
			if it.ID > last {
				o.items = append(o.items, it)
			}
		}
	} else {
		var keep int64
		if it := o.selectedItem(); it != nil {
			keep = it.ID
		}
		o.items = msg.page.Items
		o.key = msg.key
		o.idx = filterItems(o.items, o.textFilter())
		if keep != 0 {
			for i := 0; i < o.itemsLen(); i++ {
				if o.itemAt(i).ID == keep {
					o.iCursor = i
					break
				}
			}
		}
	}
	o.next = msg.page.Next
	o.idx = filterItems(o.items, o.textFilter())
	o.iCursor = clamp(o.iCursor, 0, o.itemsLen()-1)
}

func filterItems(items []router.WorkItem, filter string) []int32 {
	if filter == "" {
		return nil
	}
	out := make([]int32, 0, 16)
	for i := range items {
		it := &items[i]
		if strings.Contains(strconv.FormatInt(it.ID, 10), filter) ||
			strings.Contains(strings.ToLower(it.LastError), filter) ||
			strings.Contains(string(it.FaultCause), filter) || strings.Contains(it.AgentID, filter) {
			out = append(out, int32(i))
		}
	}
	return out
}

// setFilter filters the loaded items by the filter's text (its
// key=value terms go to the store on enter: applyAttrs).
func (o *orgState) setFilter(s string) {
	o.filter = s
	o.idx = filterItems(o.items, o.textFilter())
	o.iCursor, o.iOffset = 0, 0
}

// textFilter is the filter's text, without its key=value terms.
func (o *orgState) textFilter() string {
	_, text := splitFilter(o.filter)
	return text
}

func (o *orgState) itemsLen() int {
	if o.idx != nil {
		return len(o.idx)
	}
	return len(o.items)
}

func (o *orgState) itemAt(i int) *router.WorkItem {
	if i < 0 || i >= o.itemsLen() {
		return nil
	}
	if o.idx != nil {
		return &o.items[o.idx[i]]
	}
	return &o.items[i]
}

func (o *orgState) selectedItem() *router.WorkItem {
	if o.key != o.itemsKey() {
		return nil
	}
	return o.itemAt(o.iCursor)
}

func (o *orgState) selectedQueue() *ops.QueueHealth {
	if o.oh == nil || o.qCursor < 0 || o.qCursor >= len(o.oh.Queues) {
		return nil
	}
	return &o.oh.Queues[o.qCursor]
}

func (o *orgState) about() string { return o.name }

func (o *orgState) onKey(c *shared, k tea.KeyPressMsg) (tea.Cmd, *nav) {
	lay := o.layout(c)
	switch {
	case key.Matches(k, c.keys.Tab):
		if k.String() == "shift+tab" {
			o.focus = (o.focus + 2) % 3
		} else {
			o.focus = (o.focus + 1) % 3
		}
	case c.keys.isNav(k):
		return o.move(c, k, lay), nil
	case key.Matches(k, c.keys.Open):
		switch o.focus {
		case paneQueues:
			o.focus = paneItems
		case paneItems:
			if it := o.selectedItem(); it != nil {
				return nil, &nav{to: viewItem, org: it.OrgID, id: it.ID}
			}
		}
	case key.Matches(k, c.keys.Mark):
		o.toggleMark(c)
		return nil, nil
	case key.Matches(k, c.keys.State):
		o.marks = nil
		next := map[router.ItemState]router.ItemState{
			router.StateQueued: router.StateQuarantined, router.StateQuarantined: router.StateAssigned,
			router.StateAssigned: router.StateQueued,
		}[o.state]
		if next == "" {
			next = router.StateQueued
		}
		o.state = next
		o.focus = paneItems
		o.resetItems()
		o.loading = true
		c.setStatus(statusInfo, "items: showing "+string(next))
		return o.fetch(c, 0, itemsPage), nil
	}
	return nil, nil
}

// move applies a navigation key to the focused pane.
func (o *orgState) move(c *shared, k tea.KeyPressMsg, lay orgLayout) tea.Cmd {
	switch o.focus {
	case paneQueues:
		n := 0
		if o.oh != nil {
			n = len(o.oh.Queues)
		}
		cur := c.keys.move(k, o.qCursor, n, lay.qRows)
		if n > 0 && cur != o.qCursor {
			o.qCursor = cur
			o.queue = o.oh.Queues[cur].Queue
			o.resetItems()
			o.marks = nil
			o.loading = true
			return tea.Batch(o.fetch(c, 0, itemsPage), o.fetchChart(c, true))
		}
	case paneItems:
		o.iCursor = c.keys.move(k, o.iCursor, o.itemsLen(), lay.iRows)
		o.iOffset = scrollTo(o.iCursor, o.iOffset, lay.iRows)
		return o.maybeMore(c, lay)
	case paneAgents:
		o.aCursor = c.keys.move(k, o.aCursor, len(o.agents), lay.aRows)
		o.aOffset = scrollTo(o.aCursor, o.aOffset, lay.aRows)
	}
	return nil
}

func (o *orgState) resetItems() {
	o.items, o.idx, o.next, o.key = nil, nil, 0, ""
	o.iCursor, o.iOffset = 0, 0
}

// maybeMore loads the next page when the cursor nears the end of the
// loaded window.
func (o *orgState) maybeMore(c *shared, lay orgLayout) tea.Cmd {
	if o.loading || o.next == 0 || len(o.items) >= maxItems || o.textFilter() != "" {
		return nil
	}
	if o.iCursor < len(o.items)-lay.iRows-5 {
		return nil
	}
	o.loading = true
	return o.fetch(c, o.next, itemsPage)
}

// target is the selected item row, or else the selected queue's head.
func (o *orgState) target(_ *shared, release bool) (org string, id int64, desc string, err error) {
	if o.focus == paneItems {
		if it := o.selectedItem(); it != nil {
			return it.OrgID, it.ID, fmt.Sprintf("%s/%s, %s, attempts %d", it.OrgID, it.QueueID, it.State, it.Attempts), nil
		}
	}
	if release {
		return "", 0, "", fmt.Errorf("release: pick a quarantined item: tab to the items, s shows quarantined ones (or :release ID)")
	}
	q := o.selectedQueue()
	if q == nil {
		return "", 0, "", fmt.Errorf("no queue selected")
	}
	return headTarget(o.name, q)
}
