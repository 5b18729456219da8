package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// The org view's sets: marks (m) for x and u, the filter's key=value
// attribute terms (matched by the store, so X and U act on every item
// they match, loaded or not), and the selected queue's chart.

// itemsKey names what the loaded items are: org, queue, state and the
// attribute terms.
func (o *orgState) itemsKey() string { return itemsKey(o.name, o.queue, o.state) + attrsKey(o.attrs) }

func attrsKey(attrs []router.AttrMatch) string {
	if len(attrs) == 0 {
		return ""
	}
	parts := make([]string, len(attrs))
	for i, a := range attrs {
		parts[i] = a.String()
	}
	return "?" + strings.Join(parts, "&")
}

// toggleMark marks or unmarks the selected item and moves down.
func (o *orgState) toggleMark(c *shared) {
	it := o.selectedItem()
	if o.focus != paneItems || it == nil {
		c.setStatus(statusErr, "m marks items: tab to the items pane first")
		return
	}
	if o.marks == nil {
		o.marks = map[int64]bool{}
	}
	if o.marks[it.ID] {
		delete(o.marks, it.ID)
	} else {
		o.marks[it.ID] = true
	}
	o.iCursor = clamp(o.iCursor+1, 0, o.itemsLen()-1)
	c.setStatus(statusInfo, fmt.Sprintf("%d marked: x quarantines them, u releases them; m again unmarks", len(o.marks)))
}

// splitFilter separates a filter's key=value terms from its text.
func splitFilter(s string) ([]router.AttrMatch, string) {
	var attrs []router.AttrMatch
	var text []string
	for _, f := range strings.Fields(s) {
		if strings.Contains(f, "=") {
			if a, err := router.ParseAttrMatch(f); err == nil {
				attrs = append(attrs, a)
				continue
			}
		}
		text = append(text, f)
	}
	return attrs, strings.ToLower(strings.Join(text, " "))
}

// applyAttrs reloads the items when the filter's attribute terms changed
// (on enter: the store is asked once, not per key).
func (o *orgState) applyAttrs(c *shared) tea.Cmd {
	attrs, _ := splitFilter(o.filter)
	if attrsKey(attrs) == attrsKey(o.attrs) {
		return nil
	}
	o.attrs = attrs
	o.marks = nil
	o.resetItems()
	o.loading = true
	if len(attrs) > 0 {
		c.setStatus(statusInfo, "items with "+strings.TrimPrefix(attrsKey(attrs), "?")+": X quarantines, U releases every one")
	}
	return o.fetch(c, 0, itemsPage)
}

// chartEvery is how often the chart is fetched again.
const (
	chartEvery  = 10 * time.Second
	chartWindow = 30 * time.Minute
	chartPoints = 24
)

type chartMsg struct {
	org, queue string
	chart      *ops.ImpactChart
	err        error
}

// fetchChart samples the selected queue over the last half hour, unless
// it was sampled less than chartEvery ago.
func (o *orgState) fetchChart(c *shared, force bool) tea.Cmd {
	org, queue := o.name, o.queue
	if queue == "" {
		return nil
	}
	now := c.clock.Now()
	if !force && o.chartFor == org+"/"+queue && o.chart != nil && len(o.chart.Points) > 0 &&
		now.Sub(o.chart.Points[len(o.chart.Points)-1].At) < chartEvery {
		return nil
	}
	return c.call(queryTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		cs, err := api.QueueChart(ctx, org, []string{queue}, chartWindow, chartPoints)
		msg := chartMsg{org: org, queue: queue, err: err}
		if err == nil && len(cs) > 0 {
			msg.chart = &cs[0]
		}
		return msg
	})
}

func (o *orgState) onChart(msg chartMsg) {
	if msg.org != o.name || msg.queue != o.queue || msg.err != nil {
		return
	}
	o.chart, o.chartFor = msg.chart, msg.org+"/"+msg.queue
}

// chartLine is one line: the selected queue's waiting conversations and
// oldest wait over the last half hour.
func (o *orgState) chartLine(c *shared) string {
	ch := o.chart
	if ch == nil || o.chartFor != o.name+"/"+o.queue {
		return trunc("  chart "+o.queue+" over 30m: sampling…", c.width)
	}
	waiting := make([]float64, len(ch.Points))
	oldest := make([]float64, len(ch.Points))
	peakW, peakO := 0, 0.0
	for i, p := range ch.Points {
		waiting[i], oldest[i] = float64(p.Waiting), p.OldestWaitSeconds
		peakW, peakO = max(peakW, p.Waiting), max(peakO, p.OldestWaitSeconds)
	}
	line := fmt.Sprintf("  chart 30m · waiting %s %s · oldest %s %s", present.Sparkline(waiting), present.Count(peakW),
		present.Sparkline(oldest), present.Age(peakO))
	return trunc(line, c.width)
}
