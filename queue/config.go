package queue

import (
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// JobTimeout bounds one attempt of a job whose worker names no Timeout of
// its own. It is River's default, written here so that it is a decision and
// so that the rescue delay below can be derived from it.
const JobTimeout = time.Minute

// rescueMargin is what a job may run past its timeout (River cancels its
// context; the worker may take a moment to return) before it counts as
// abandoned by a process that died.
const rescueMargin = time.Minute

// How long River keeps finished jobs before its cleaner deletes them. Every
// token refresh leaves a completed job behind: on PostgreSQL a 341-byte row
// and ≈1.7 KB of table, indexes and dead row versions
// (BenchmarkCompletedJobFootprint). At 100 000 authorizers, 1.44 million a
// day: ≈2.3 GiB a day if kept, which River's default of 24 hours would keep
// standing. An hour keeps ≈100 MiB standing, and is enough to look at what
// just ran. Cancelled and discarded jobs
// are rarer and are what someone investigates later: they stay longer.
const (
	CompletedRetention = time.Hour
	CancelledRetention = 24 * time.Hour
	DiscardedRetention = 7 * 24 * time.Hour
)

// Workers is River's worker bundle, remembering the longest job timeout of
// the workers added, so that the delay after which River takes back a job
// left running by a killed process follows from the jobs themselves. River's
// default for that delay is one hour: an authorization code also lives one
// hour, so a kill -9 in the middle of an authorization would lose it.
type Workers struct {
	river   *river.Workers
	longest time.Duration
	scale   float64
}

// NewWorkers returns an empty bundle. timeoutScale shortens every timeout,
// for tests that kill a process and wait for River to take its jobs back;
// 0 or 1 means the real values.
func NewWorkers(timeoutScale float64) *Workers {
	if timeoutScale <= 0 {
		timeoutScale = 1
	}
	return &Workers{river: river.NewWorkers(), longest: JobTimeout, scale: timeoutScale}
}

// AddWorker registers w (as river.AddWorker does) and notes its timeout. A
// worker's Timeout is asked once, of a job with zero arguments: a worker whose
// timeout depends on its job must answer its longest for that job.
func AddWorker[T river.JobArgs](ws *Workers, w river.Worker[T]) {
	if d := w.Timeout(&river.Job[T]{JobRow: &rivertype.JobRow{}}); d > ws.longest {
		ws.longest = d
	}
	if ws.scale != 1 {
		// River's rescuer also waits for the worker's own timeout.
		w = scaledWorker[T]{w, ws.scale}
	}
	river.AddWorker(ws.river, w)
}

// scaledWorker is a worker with a shortened timeout (tests only).
type scaledWorker[T river.JobArgs] struct {
	river.Worker[T]
	scale float64
}

func (w scaledWorker[T]) Timeout(job *river.Job[T]) time.Duration {
	d := w.Worker.Timeout(job)
	if d <= 0 {
		return d
	}
	return time.Duration(float64(d) * w.scale)
}

// RescueAfter is how long a job may stay running before River retries it:
// the longest job timeout plus a margin. A job that lives longer than that
// belongs to a process that is gone. (River's rescuer also waits for the
// job's own timeout, and looks every 30 s.)
func (ws *Workers) RescueAfter() time.Duration {
	return time.Duration(float64(ws.longest+rescueMargin) * ws.scale)
}

// Configure puts the workers into cfg with the timeouts and retention
// periods every wxfleet River client uses.
func Configure(cfg *river.Config, ws *Workers) {
	cfg.Workers = ws.river
	cfg.JobTimeout = time.Duration(float64(JobTimeout) * ws.scale)
	cfg.RescueStuckJobsAfter = ws.RescueAfter()
	cfg.CompletedJobRetentionPeriod = CompletedRetention
	cfg.CancelledJobRetentionPeriod = CancelledRetention
	cfg.DiscardedJobRetentionPeriod = DiscardedRetention
}
