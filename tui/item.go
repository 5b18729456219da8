package tui

import (
	"context"
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/routeops/routeops/ops"
	"github.com/routeops/routeops/ops/present"
	"github.com/routeops/routeops/router"
)

// itemState is the item view: one item's detail, its revision chain and
// its events, as text.
type itemState struct {
	textView
	org    string
	id     int64
	detail *ops.ItemDetail
	err    string
}

type itemMsg struct {
	org    string
	id     int64
	detail *ops.ItemDetail
	err    error
}

func (s *itemState) open(c *shared, org string, id int64) tea.Cmd {
	*s = itemState{org: org, id: id}
	s.text = newText([]string{"loading item " + router.FormatItemID(id) + "…"})
	return s.fetch(c)
}

func (s *itemState) fetch(c *shared) tea.Cmd {
	org, id := s.org, s.id
	return c.call(queryTimeout, func(ctx context.Context, api *ops.Ops) tea.Msg {
		d, err := api.Item(ctx, org, id)
		return itemMsg{org: org, id: id, detail: d, err: err}
	})
}

func (s *itemState) onItem(c *shared, msg itemMsg) {
	if s.id != msg.id {
		return
	}
	if msg.err != nil {
		s.err = present.Error(msg.err)
		if s.detail == nil {
			s.text = newText([]string{"item " + router.FormatItemID(msg.id) + ": " + s.err})
		}
		return
	}
	s.err = ""
	s.detail = msg.detail
	if s.org == "" {
		s.org = msg.detail.Item.OrgID
	}
	s.text.reset(present.ItemLines(msg.detail, c.clock.Now(), present.ItemOptions{Style: present.Console}))
}

func (s *itemState) about() string {
	if s.org != "" {
		return s.org
	}
	if s.detail != nil {
		return s.detail.Item.OrgID
	}
	return ""
}

// target is the item itself.
func (s *itemState) target(*shared, bool) (org string, id int64, desc string, err error) {
	if d := s.detail; d != nil {
		it := &d.Item
		return it.OrgID, it.ID, fmt.Sprintf("%s/%s, %s", it.OrgID, it.QueueID, it.State), nil
	}
	return s.org, s.id, s.org, nil
}

func (s *itemState) body(c *shared, h int) []string {
	title := "Item " + router.FormatItemID(s.id)
	if s.err != "" {
		title += " · error: " + s.err
	}
	return s.text.render(c, h, title)
}
