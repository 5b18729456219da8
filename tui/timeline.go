package tui

import (
	"context"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
)

// timelineState is the timeline view: the last hour of the journal of an
// org (or of every org) as an incident timeline.
type timelineState struct {
	textView
	org string
	tl  *ops.Timeline
	err string
}

type timelineMsg struct {
	org string
	tl  *ops.Timeline
	err error
}

func (s *timelineState) open(c *shared, org string) tea.Cmd {
	*s = timelineState{org: org}
	s.text = newText([]string{"loading the timeline of " + present.Scope(org) + "…"})
	return s.fetch(c)
}

func (s *timelineState) fetch(c *shared) tea.Cmd {
	org := s.org
	return c.call(queryTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		tl, err := api.Timeline(ctx, ops.TimelineOptions{Since: time.Hour, Org: org})
		return timelineMsg{org: org, tl: tl, err: err}
	})
}

func (s *timelineState) onTimeline(msg timelineMsg) {
	if msg.org != s.org {
		return
	}
	if msg.err != nil {
		s.err = present.Error(msg.err)
		s.text = newText([]string{"timeline: " + s.err})
		return
	}
	s.tl, s.err = msg.tl, ""
	s.text.reset(present.TimelineLines(msg.tl))
}

func (s *timelineState) about() string { return s.org }

func (s *timelineState) body(c *shared, h int) []string {
	return s.text.render(c, h, "Timeline of "+present.Scope(s.org)+", last hour (newest at the bottom; r reloads)")
}
