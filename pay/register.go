package pay

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/queue"
)

// Feature is the reconciliation and the auto-close of unpaid orders as the
// server wires them: their workers and their periodic jobs.
type Feature struct {
	Service *Service
	// After is how long after its creation an unpaid order is asked about;
	// 0 → DefaultReconcileAfter.
	After time.Duration
	// CloseAfter is how long after its creation an unpaid order is closed
	// (asked about first); 0 → DefaultCloseAfter.
	CloseAfter time.Duration
	// Interval is how often the reconciliation and the auto-close run; 0 →
	// DefaultReconcileInterval.
	Interval time.Duration
}

// RegisterWorkers adds the reconciliation's and the auto-close's workers.
func (f *Feature) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &ReconcileWorker{Service: f.Service, After: f.After})
	queue.AddWorker(w, &CloseUnpaidWorker{Service: f.Service, After: f.CloseAfter})
}

// PeriodicJobs is the reconciliation and the auto-close, every Interval:
// two jobs, so that one failing or slow does not hold the other back.
func (f *Feature) PeriodicJobs() []*river.PeriodicJob {
	every := f.Interval
	if every <= 0 {
		every = DefaultReconcileInterval
	}
	periodic := func(args river.JobArgs) *river.PeriodicJob {
		return river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) {
				// One run at a time across the cluster: a second would only ask again.
				return args, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: every}}
			}, nil)
	}
	return []*river.PeriodicJob{periodic(ReconcileArgs{}), periodic(CloseUnpaidArgs{})}
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

// CloseUnpaidArgs is one run of the auto-close of unpaid orders.
type CloseUnpaidArgs struct{}

// Kind implements river.JobArgs.
func (CloseUnpaidArgs) Kind() string { return "pay_close_unpaid" }

// CloseUnpaidWorker runs Service.CloseUnpaid.
type CloseUnpaidWorker struct {
	river.WorkerDefaults[CloseUnpaidArgs]
	Service *Service
	After   time.Duration
}

// Work implements river.Worker.
func (w *CloseUnpaidWorker) Work(ctx context.Context, job *river.Job[CloseUnpaidArgs]) error {
	res, err := w.Service.CloseUnpaid(ctx, w.After)
	if res != (ReconcileResult{}) {
		w.Service.logger().Info("pay: auto-close", "asked", res.Asked, "paid", res.Paid, "closed", res.Closed, "failed", res.Failed)
	}
	return err
}

// Timeout implements river.Worker: a run asks about and closes up to
// reconcileBatch orders.
func (w *CloseUnpaidWorker) Timeout(*river.Job[CloseUnpaidArgs]) time.Duration {
	return 5 * time.Minute
}
