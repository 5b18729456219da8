package ops

import (
	"context"
	"fmt"
	"time"

	"github.com/routeops/routeops/router"
)

// CleanupPlan reports what cleanup would delete.
type CleanupPlan struct {
	router.CleanupStats
	OlderThan time.Time `json:"older_than"`
	Retention string    `json:"retention"`
}

// PlanCleanup counts the revisions eligible for deletion: older than the
// retention, not the current revision of any item, and not their item's
// newest. It changes nothing.
func (o *Ops) PlanCleanup(ctx context.Context, retention time.Duration) (*CleanupPlan, error) {
	if err := CheckRetention(retention); err != nil {
		return nil, err
	}
	older := o.Clock.Now().Add(-retention)
	st, err := o.store.CleanupPlan(ctx, older)
	if err != nil {
		return nil, err
	}
	return &CleanupPlan{CleanupStats: st, OlderThan: older.UTC(), Retention: retention.String()}, nil
}

// CleanupResult reports an applied cleanup.
type CleanupResult struct {
	Deleted  int       `json:"deleted"`
	Examined int       `json:"examined"`
	Batches  int       `json:"batches"`
	Stopped  string    `json:"stopped"` // done, max_rows, canceled
	Seconds  float64   `json:"seconds"`
	Older    time.Time `json:"older_than"`
}

// CleanupOptions bound an applied cleanup; zero values take the config.
type CleanupOptions struct {
	Retention time.Duration
	BatchSize int
	MaxRows   int
	Pause     time.Duration
	// Progress is called after each batch.
	Progress func(CleanupResult)
}

// ApplyCleanup deletes eligible revisions in batches, pausing between
// batches so routing keeps its pace, and stops at MaxRows.
func (o *Ops) ApplyCleanup(ctx context.Context, opt CleanupOptions) (*CleanupResult, error) {
	if err := o.guard(ActionCleanup); err != nil {
		return nil, err
	}
	if err := CheckRetention(opt.Retention); err != nil {
		return nil, err
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = o.cleanup.BatchSize
	}
	if opt.MaxRows <= 0 {
		opt.MaxRows = o.cleanup.MaxRows
	}
	if opt.Pause < 0 {
		opt.Pause = 0
	} else if opt.Pause == 0 {
		opt.Pause = o.cleanup.Pause
	}
	start := time.Now()
	older := o.Clock.Now().Add(-opt.Retention)
	res := &CleanupResult{Stopped: "done", Older: older.UTC()}
	var after int64
	for {
		if res.Deleted >= opt.MaxRows {
			res.Stopped = "max_rows"
			break
		}
		limit := min(opt.BatchSize, opt.MaxRows-res.Deleted)
		b, err := o.store.CleanupBatch(ctx, router.CleanupBatchRequest{OlderThan: older, After: after, Limit: limit, Actor: o.Actor, At: o.Clock.Now()})
		if err != nil {
			if ctx.Err() != nil {
				res.Stopped = "canceled"
				break
			}
			res.Seconds = time.Since(start).Seconds()
			return res, fmt.Errorf("cleanup stopped after %d deletions: %w", res.Deleted, err)
		}
		res.Batches++
		res.Deleted += b.Deleted
		res.Examined += b.Examined
		after = b.Next
		if opt.Progress != nil {
			opt.Progress(*res)
		}
		if b.Done {
			break
		}
		if opt.Pause > 0 {
			select {
			case <-ctx.Done():
				res.Stopped = "canceled"
				res.Seconds = time.Since(start).Seconds()
				return res, nil
			case <-o.Clock.After(opt.Pause):
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}
