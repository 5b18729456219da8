package ops

import (
	"context"
	"time"

	"github.com/routeops/routeops/router"
)

// pacer caps a bulk action at rate items per second, so that ten thousand
// released conversations do not land on agents in one second. Every batch
// is stamped with the time the pacer let it go (its events carry that
// time), and a batch goes only when the batches stamped in the second up
// to and including that time, itself included, hold at most rate items.
// Then any one-second window of the journal holds at most rate: take the
// last batch in the window; every other batch in it was stamped less than
// a second before.
//
// Batches are at most a tenth of the rate, so a second's items are spread
// over it rather than sent at once.
type pacer struct {
	clock router.Clock
	rate  int
	sent  []stamp
}

type stamp struct {
	at time.Time
	n  int
}

func newPacer(clock router.Clock, rate int) *pacer { return &pacer{clock: clock, rate: rate} }

// take waits until some items may go and returns how many (at most want)
// and the time to stamp them with. Without a rate everything goes now.
func (p *pacer) take(ctx context.Context, want int) (int, time.Time, error) {
	for {
		now := p.clock.Now().UTC().Truncate(time.Microsecond)
		if p.rate <= 0 {
			return want, now, nil
		}
		used := 0
		keep := p.sent[:0]
		for _, s := range p.sent {
			if s.at.After(now.Add(-time.Second)) {
				keep = append(keep, s)
				used += s.n
			}
		}
		p.sent = keep
		if free := p.rate - used; free > 0 {
			return min(want, free, max(1, p.rate/10)), now, nil
		}
		// Wait until the oldest batch in the window leaves it.
		wait := p.sent[0].at.Add(time.Second).Sub(now) + time.Microsecond
		select {
		case <-ctx.Done():
			return 0, now, ctx.Err()
		case <-p.clock.After(wait):
		}
	}
}

// record notes how many items a batch stamped at at really changed (fewer
// than taken when some were skipped).
func (p *pacer) record(at time.Time, n int) {
	if p.rate > 0 && n > 0 {
		p.sent = append(p.sent, stamp{at: at, n: n})
	}
}
