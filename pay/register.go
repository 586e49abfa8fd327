package pay

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/queue"
)

// Feature is the reconciliation as the server wires it: its worker and its
// periodic job.
type Feature struct {
	Service *Service
	// After is how long after its creation an unpaid order is asked about;
	// 0 → DefaultReconcileAfter.
	After time.Duration
	// Interval is how often the reconciliation runs; 0 → DefaultReconcileInterval.
	Interval time.Duration
}

// RegisterWorkers adds the reconciliation's worker.
func (f *Feature) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &ReconcileWorker{Service: f.Service, After: f.After})
}

// PeriodicJobs is the reconciliation, every Interval.
func (f *Feature) PeriodicJobs() []*river.PeriodicJob {
	every := f.Interval
	if every <= 0 {
		every = DefaultReconcileInterval
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) {
			// One run at a time across the cluster: a second would only ask again.
			return ReconcileArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: every}}
		}, nil)}
}

// ReconcileArgs is one run of the reconciliation.
type ReconcileArgs struct{}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "pay_reconcile" }

// ReconcileWorker runs Service.Reconcile.
type ReconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	Service *Service
	After   time.Duration
}

// Work implements river.Worker.
func (w *ReconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	res, err := w.Service.Reconcile(ctx, w.After)
	if res != (ReconcileResult{}) {
		w.Service.logger().Info("pay: reconciliation", "asked", res.Asked, "paid", res.Paid, "closed", res.Closed, "failed", res.Failed)
	}
	return err
}

// Timeout implements river.Worker: a run asks up to reconcileBatch orders.
func (w *ReconcileWorker) Timeout(*river.Job[ReconcileArgs]) time.Duration { return 5 * time.Minute }
