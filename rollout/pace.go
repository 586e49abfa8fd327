package rollout

import (
	"context"
	"math"
	"time"

	"github.com/riverqueue/river"
)

// maxAhead is how far ahead a step may reserve its call: a step whose slot
// is further away snoozes (freeing its worker) instead of waiting.
const maxAhead = 10 * time.Second

// pace waits for this step's turn to call WeChat's path: one slot of the
// rollouts' overall budget (Rate calls a second, for the whole cluster) and
// one of path's own (APIRates). Slots are reserved in the database, so
// several instances together keep to the rate; an instance that adds workers
// adds no calls. With no rate set, it returns at once.
func (s *Service) pace(ctx context.Context, path string) error {
	for _, b := range []struct {
		name string
		rate float64
	}{{"rollout", s.Rate}, {"rollout:" + path, s.APIRates[path]}} {
		if b.rate <= 0 {
			continue
		}
		interval := time.Duration(float64(time.Second) / b.rate)
		at, ok, err := s.Store.ReserveSlot(ctx, b.name, interval, s.Now(), maxAhead)
		if err != nil {
			return err
		}
		if !ok {
			s.observe("pace", "snoozed")
			return river.JobSnooze(maxAhead / 2)
		}
		if d := at.Sub(s.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
	}
	return nil
}

// DefaultWorkers is how many rollout steps an instance runs at once when it
// is not told: ten, or half the call rate when that is more (at most 200).
// A step spends most of its time waiting for its paced slot and for WeChat;
// with rate r and w workers each step has w/r seconds for its calls and its
// database writes, and at 50 calls/s ten workers left 0.2 s, too little on a
// loaded machine (issue 9's benchmark: 87–92 % of the rate with 10 workers,
// 95 % with 25, same machine and load).
func DefaultWorkers(rate float64) int {
	if rate <= 20 {
		return 10
	}
	return min(200, int(math.Ceil(rate/2)))
}
