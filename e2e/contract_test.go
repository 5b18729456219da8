package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/routeops/routeops/internal/harness"
)

// The `status -o json` contract of DESIGN.md, decoded.
type statusDoc struct {
	GeneratedAt time.Time `json:"generated_at"`
	Store       string    `json:"store"`
	Summary     struct {
		Orgs          int    `json:"orgs"`
		Queued        int    `json:"queued"`
		Assigned      int    `json:"assigned"`
		Quarantined   int    `json:"quarantined"`
		StalledQueues int    `json:"stalled_queues"`
		Health        string `json:"health"`
	} `json:"summary"`
	Orgs []orgDoc `json:"orgs"`
}

type orgDoc struct {
	Org    string     `json:"org"`
	Health string     `json:"health"`
	Queues []queueDoc `json:"queues"`
}

type queueDoc struct {
	Queue             string   `json:"queue"`
	Depth             int      `json:"depth"`
	OldestAgeSeconds  float64  `json:"oldest_age_seconds"`
	AvailableCapacity int      `json:"available_capacity"`
	Quarantined       int      `json:"quarantined"`
	Stalled           bool     `json:"stalled"`
	Cause             string   `json:"cause"`
	Paused            bool     `json:"paused"`
	Head              *headDoc `json:"head"`
}

type headDoc struct {
	Item       string  `json:"item"`
	AgeSeconds float64 `json:"age_seconds"`
	Attempts   int     `json:"attempts"`
	LastError  string  `json:"last_error"`
}

// queue finds org/queue in the document.
func (s *statusDoc) queue(org, queue string) (*orgDoc, *queueDoc) {
	for i := range s.Orgs {
		if s.Orgs[i].Org != org {
			continue
		}
		for j := range s.Orgs[i].Queues {
			if s.Orgs[i].Queues[j].Queue == queue {
				return &s.Orgs[i], &s.Orgs[i].Queues[j]
			}
		}
	}
	return nil, nil
}

func (s *statusDoc) stalled() []string {
	var out []string
	for _, o := range s.Orgs {
		for _, q := range o.Queues {
			if q.Stalled {
				out = append(out, o.Org+"/"+q.Queue+" ("+q.Cause+")")
			}
		}
	}
	return out
}

var (
	healths = map[string]bool{"ok": true, "warning": true, "critical": true}
	causes  = map[string]bool{"": true, "missing_revision": true, "corrupt_revision": true, "queue_paused": true,
		"team_paused": true, "no_capacity": true, "engine_down": true, "unknown": true}
)

// parseStatus checks raw against the documented shape, key by key and
// type by type, and decodes it. It returns an error rather than failing,
// so that a poll can retry.
func parseStatus(raw []byte) (*statusDoc, error) {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	var errs []string
	need := func(path string, obj map[string]any, key, kind string) any {
		v, ok := obj[key]
		if !ok {
			errs = append(errs, path+"."+key+" is missing")
			return nil
		}
		okType := false
		switch kind {
		case "string":
			_, okType = v.(string)
		case "number":
			_, okType = v.(float64)
		case "bool":
			_, okType = v.(bool)
		case "object":
			_, okType = v.(map[string]any)
		case "array":
			_, okType = v.([]any)
		case "object|null":
			_, okType = v.(map[string]any)
			okType = okType || v == nil
		}
		if !okType {
			errs = append(errs, fmt.Sprintf("%s.%s is %T, want %s", path, key, v, kind))
		}
		return v
	}
	if ga, ok := need("", m, "generated_at", "string").(string); ok {
		if _, err := time.Parse(time.RFC3339Nano, ga); err != nil {
			errs = append(errs, fmt.Sprintf("generated_at %q is not RFC 3339", ga))
		}
	}
	if sm, ok := need("", m, "summary", "object").(map[string]any); ok {
		for _, k := range []string{"orgs", "queued", "assigned", "quarantined", "stalled_queues"} {
			need("summary", sm, k, "number")
		}
		if h, ok := need("summary", sm, "health", "string").(string); ok && !healths[h] {
			errs = append(errs, fmt.Sprintf("summary.health %q is not ok, warning or critical", h))
		}
	}
	orgs, _ := need("", m, "orgs", "array").([]any)
	for i, ov := range orgs {
		p := fmt.Sprintf("orgs[%d]", i)
		o, ok := ov.(map[string]any)
		if !ok {
			errs = append(errs, p+" is not an object")
			continue
		}
		need(p, o, "org", "string")
		if h, ok := need(p, o, "health", "string").(string); ok && !healths[h] {
			errs = append(errs, fmt.Sprintf("%s.health %q is not ok, warning or critical", p, h))
		}
		qs, _ := need(p, o, "queues", "array").([]any)
		for j, qv := range qs {
			qp := fmt.Sprintf("%s.queues[%d]", p, j)
			q, ok := qv.(map[string]any)
			if !ok {
				errs = append(errs, qp+" is not an object")
				continue
			}
			need(qp, q, "queue", "string")
			for _, k := range []string{"depth", "oldest_age_seconds", "available_capacity", "quarantined"} {
				need(qp, q, k, "number")
			}
			need(qp, q, "stalled", "bool")
			if c, ok := need(qp, q, "cause", "string").(string); ok && !causes[c] {
				errs = append(errs, fmt.Sprintf("%s.cause %q is not a documented cause", qp, c))
			}
			if h, ok := need(qp, q, "head", "object|null").(map[string]any); ok {
				need(qp+".head", h, "item", "string")
				need(qp+".head", h, "age_seconds", "number")
				need(qp+".head", h, "attempts", "number")
				need(qp+".head", h, "last_error", "string")
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("status JSON breaks the DESIGN.md contract:\n  %s", strings.Join(errs, "\n  "))
	}
	var s statusDoc
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if len(s.Orgs) != s.Summary.Orgs {
		return nil, fmt.Errorf("summary.orgs is %d but orgs lists %d", s.Summary.Orgs, len(s.Orgs))
	}
	return &s, nil
}

func mustStatus(t *testing.T, r harness.Result) *statusDoc {
	t.Helper()
	s, err := parseStatus([]byte(r.Stdout))
	if err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	return s
}
