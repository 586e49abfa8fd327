package rollout

import (
	"context"
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
