package tenant

import (
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/queue"
)

// DefaultCheckInterval is how often the expiry policy runs.
const DefaultCheckInterval = 24 * time.Hour

// Feature is the expiry policy as the server wires it: the check's worker
// and its periodic job (at start, then every Interval).
type Feature struct {
	Service  *Service
	Interval time.Duration // 0 → DefaultCheckInterval
}

// RegisterWorkers adds the expiry check's worker.
func (f *Feature) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &CheckWorker{Service: f.Service})
}

// PeriodicJobs is the expiry check.
func (f *Feature) PeriodicJobs() []*river.PeriodicJob {
	every := f.Interval
	if every <= 0 {
		every = DefaultCheckInterval
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return CheckArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}
