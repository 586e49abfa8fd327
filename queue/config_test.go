package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/queue"
)

type slowArgs struct{}

func (slowArgs) Kind() string { return "slow" }

type slowWorker struct{ river.WorkerDefaults[slowArgs] }

func (slowWorker) Work(context.Context, *river.Job[slowArgs]) error { return nil }
func (slowWorker) Timeout(*river.Job[slowArgs]) time.Duration       { return 7 * time.Minute }

type quickArgs struct{}

func (quickArgs) Kind() string { return "quick" }

type quickWorker struct {
	river.WorkerDefaults[quickArgs]
}

func (quickWorker) Work(context.Context, *river.Job[quickArgs]) error { return nil }

// The rescue delay follows the longest worker timeout, never River's
// one-hour default, and every job without a timeout of its own gets
// JobTimeout explicitly.
func TestConfigureFollowsTheLongestTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		add     func(ws *queue.Workers)
		scale   float64
		timeout time.Duration
		rescue  time.Duration
	}{
		{"default timeouts only", func(ws *queue.Workers) { queue.AddWorker(ws, &quickWorker{}) }, 0, time.Minute, 2 * time.Minute},
		{"one long worker", func(ws *queue.Workers) {
			queue.AddWorker(ws, &quickWorker{})
			queue.AddWorker(ws, &slowWorker{})
		}, 1, time.Minute, 8 * time.Minute},
		{"scaled for a test", func(ws *queue.Workers) { queue.AddWorker(ws, &slowWorker{}) }, 0.125, 7500 * time.Millisecond, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := queue.NewWorkers(tc.scale)
			tc.add(ws)
			cfg := &river.Config{}
			queue.Configure(cfg, ws)
			if cfg.JobTimeout != tc.timeout || cfg.RescueStuckJobsAfter != tc.rescue {
				t.Fatalf("JobTimeout %s, RescueStuckJobsAfter %s; want %s, %s", cfg.JobTimeout, cfg.RescueStuckJobsAfter, tc.timeout, tc.rescue)
			}
		})
	}
}
