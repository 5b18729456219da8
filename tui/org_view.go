package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// The org view's rendering: a title, the queues, the selected queue's
// items and the agents, each pane in a window of rows.

type orgLayout struct{ qRows, iRows, aRows int }

func (o *orgState) layout(c *shared) orgLayout {
	h := c.bodyHeight() - 1 // title
	nq := 1
	if o.oh != nil {
		nq = max(len(o.oh.Queues), 1)
	}
	q := clamp(min(nq, min(6, (h-6)/3)), 1, nq)
	rest := h - (1 + q) - 4 - 1 // the last 1: the selected queue's chart
	i := max((rest*3+4)/5, 1)
	a := max(rest-i, 1)
	return orgLayout{qRows: q, iRows: i, aRows: a}
}

func (o *orgState) body(c *shared, h int) []string {
	out := make([]string, 0, h)
	oh := o.oh
	if oh == nil {
		out = append(out, trunc("org "+o.name+": not in the current snapshot (r refreshes)", c.width))
		return out
	}
	lay := o.layout(c)
	title := fmt.Sprintf("%s %s · %d queues · %s queued · %s quarantined · agents %s · free %s",
		oh.Org, present.HealthWord(oh.Health), len(oh.Queues), present.Count(oh.Queued), present.Count(oh.Quarantined),
		present.Ratio(oh.AgentsAvailable, oh.AgentsTotal), present.Ratio(oh.AvailableCapacity, oh.Capacity))
	if oh.Reason != "" {
		title += " · " + present.Line(oh.Reason)
	}
	out = append(out, c.st.r(c.st.title, trunc(title, c.width)))
	out = append(out, o.queuesSection(c, lay.qRows)...)
	for len(out) < 2+lay.qRows {
		out = append(out, "")
	}
	out = append(out, o.chartLine(c))
	out = append(out, o.itemsSection(c, lay.iRows)...)
	for len(out) < 3+lay.qRows+2+lay.iRows {
		out = append(out, "")
	}
	return append(out, o.agentsSection(c, lay.aRows)...)
}

func focusMark(focused bool) string {
	if focused {
		return "▸"
	}
	return " "
}

func rowMark(selected, focused bool) string {
	switch {
	case selected && focused:
		return "> "
	case selected:
		return "· "
	}
	return "  "
}

// queuesSection is the queues' column header and a window of rows.
func (o *orgState) queuesSection(c *shared, rows int) []string {
	oh := o.oh
	out := make([]string, 0, rows+1)
	wide := c.width >= 100
	rest := c.width - 55
	if wide {
		rest -= 12
	}
	var b strings.Builder
	b.WriteString(focusMark(o.focus == paneQueues))
	b.WriteByte(' ')
	appendCell(&b, "QUEUE", 11, false, false)
	appendCell(&b, "DEPTH", 5, true, false)
	appendCell(&b, "WAIT", 5, true, false)
	appendCell(&b, "STATE", 7, false, false)
	if wide {
		appendCell(&b, "A/MIN", 5, true, false)
		appendCell(&b, "FREE", 5, true, false)
	}
	appendCell(&b, "HEAD", 8, false, false)
	appendCell(&b, "AGE", 5, true, false)
	appendCell(&b, "TRIES", 5, true, false)
	b.WriteString(trunc("CAUSE / LAST ERROR", rest))
	out = append(out, c.st.r(c.st.colHead, strings.TrimRight(b.String(), " ")))
	off := clamp(scrollTo(o.qCursor, o.qOffset, rows), 0, max(len(oh.Queues)-rows, 0))
	for i := off; i < len(oh.Queues) && i < off+rows; i++ {
		out = append(out, o.queueLine(c, &oh.Queues[i], i == o.qCursor, wide, rest))
	}
	if len(oh.Queues) == 0 {
		out = append(out, "  no queues")
	}
	return out
}

func (o *orgState) queueLine(c *shared, q *ops.QueueHealth, sel, wide bool, rest int) string {
	focused := o.focus == paneQueues
	var b strings.Builder
	b.WriteString(rowMark(sel, focused))
	appendCell(&b, q.Queue, 11, false, false)
	appendCell(&b, present.Count(q.Depth), 5, true, false)
	appendCell(&b, present.Age(q.OldestAgeSeconds), 5, true, false)
	appendCell(&b, present.QueueState(q).String(), 7, false, false)
	if wide {
		appendCell(&b, present.Count(q.Assigned1m), 5, true, false)
		appendCell(&b, present.Count(q.AvailableCapacity), 5, true, false)
	}
	head, age, tries := "-", "-", "-"
	if q.Head != nil {
		head, age, tries = q.Head.Item, present.Age(q.Head.AgeSeconds), strconv.Itoa(q.Head.Attempts)
	}
	appendCell(&b, head, 8, false, false)
	appendCell(&b, age, 5, true, false)
	appendCell(&b, tries, 5, true, false)
	status := trunc(present.QueueDetail(q), rest)
	line := b.String()
	if !c.st.color {
		return strings.TrimRight(line+status, " ")
	}
	if sel && focused {
		return c.st.selected.Render(padRight(line+status, c.width))
	}
	if q.Stalled {
		status = c.st.r(c.st.stalled, status)
	} else if q.Health != ops.HealthOK {
		status = c.st.health(q.Health, status)
	}
	return line + status
}

func (o *orgState) itemsSection(c *shared, rows int) []string {
	out := make([]string, 0, rows+2)
	focused := o.focus == paneItems
	loaded := o.key == o.itemsKey()
	title := "Items"
	if o.queue != "" {
		title += " in " + o.queue
	}
	title += " · " + string(o.state)
	if !loaded {
		title += " · loading…"
	} else {
		n := strconv.Itoa(len(o.items))
		if o.next != 0 {
			n += "+"
		}
		title += " · " + n
		if o.filter != "" {
			title += fmt.Sprintf(" · filter /%s (%d)", o.filter, o.itemsLen())
		}
		if len(o.marks) > 0 {
			title += fmt.Sprintf(" · %d marked", len(o.marks))
		}
	}
	if o.err != "" {
		title += " · error: " + o.err
	}
	title += " · s: state"
	out = append(out, c.st.r(c.st.title, trunc(focusMark(focused)+" "+title, c.width)))
	rest := c.width - 32
	var b strings.Builder
	b.WriteString("  ")
	appendCell(&b, "ITEM", 10, false, false)
	appendCell(&b, "PRI", 3, true, false)
	appendCell(&b, "WAITED", 6, true, false)
	appendCell(&b, "TRIES", 5, true, false)
	b.WriteString(trunc("NOTES", rest))
	out = append(out, c.st.r(c.st.colHead, b.String()))
	if !loaded {
		return out
	}
	n := o.itemsLen()
	if n == 0 {
		if o.filter != "" {
			return append(out, "  no item matches the filter")
		}
		return append(out, "  no "+string(o.state)+" items in this queue")
	}
	var headID int64
	if q := o.selectedQueue(); q != nil && q.Head != nil {
		headID, _ = strconv.ParseInt(q.Head.Item, 10, 64)
	}
	now := c.clock.Now()
	off := clamp(scrollTo(o.iCursor, o.iOffset, rows), 0, max(n-rows, 0))
	for i := off; i < n && i < off+rows; i++ {
		it := o.itemAt(i)
		sel := i == o.iCursor
		var l strings.Builder
		l.WriteString(rowMark(sel && focused, true))
		id := router.FormatItemID(it.ID)
		if o.marks[it.ID] {
			id = "*" + id
		}
		appendCell(&l, id, 10, false, false)
		appendCell(&l, strconv.Itoa(it.Priority), 3, true, false)
		appendCell(&l, present.Age(now.Sub(it.EnqueuedAt).Seconds()), 6, true, false)
		appendCell(&l, strconv.Itoa(it.Attempts), 5, true, false)
		l.WriteString(trunc(present.ItemNotes(it, it.ID == headID), rest))
		line := strings.TrimRight(l.String(), " ")
		if sel && focused && c.st.color {
			line = c.st.selected.Render(padRight(line, c.width))
		}
		out = append(out, line)
	}
	return out
}

func (o *orgState) agentsSection(c *shared, rows int) []string {
	out := make([]string, 0, rows+2)
	focused := o.focus == paneAgents
	avail, load, capacity := 0, 0, 0
	for i := range o.agents {
		a := &o.agents[i]
		if a.Status == router.AgentAvailable {
			avail++
		}
		load += a.Load
		capacity += a.Capacity
	}
	title := fmt.Sprintf("Agents · %d of %d available · load %d/%d", avail, len(o.agents), load, capacity)
	out = append(out, c.st.r(c.st.title, trunc(focusMark(focused)+" "+title, c.width)))
	rest := c.width - 48
	var b strings.Builder
	b.WriteString("  ")
	appendCell(&b, "AGENT", 14, false, false)
	appendCell(&b, "TEAM", 12, false, false)
	appendCell(&b, "STATUS", 9, false, false)
	appendCell(&b, "LOAD", 7, true, false)
	b.WriteString(trunc("SKILLS", rest))
	out = append(out, c.st.r(c.st.colHead, b.String()))
	n := len(o.agents)
	if n == 0 {
		return append(out, "  no agents")
	}
	off := clamp(scrollTo(o.aCursor, o.aOffset, rows), 0, max(n-rows, 0))
	for i := off; i < n && i < off+rows; i++ {
		a := &o.agents[i]
		sel := focused && i == o.aCursor
		var l strings.Builder
		l.WriteString(rowMark(sel, true))
		appendCell(&l, a.ID, 14, false, false)
		appendCell(&l, a.TeamID, 12, false, false)
		appendCell(&l, string(a.Status), 9, false, false)
		appendCell(&l, present.Ratio(a.Load, a.Capacity), 7, true, false)
		l.WriteString(trunc(present.AgentNote(*a), rest))
		line := strings.TrimRight(l.String(), " ")
		if sel && c.st.color {
			line = c.st.selected.Render(padRight(line, c.width))
		}
		out = append(out, line)
	}
	return out
}
