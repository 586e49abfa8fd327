package rollout

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
)

// Feature is rollouts as the server wires them: the step and check workers,
// the periodic check, and the audit-result pushes.
type Feature struct {
	Service *Service
}

// RegisterWorkers adds the step, check, fleet action and setup workers.
func (f *Feature) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &StepWorker{Service: f.Service})
	queue.AddWorker(w, &CheckWorker{Service: f.Service})
	queue.AddWorker(w, &CohortWorker{Service: f.Service})
	queue.AddWorker(w, &RequeueWorker{Service: f.Service})
	queue.AddWorker(w, &FleetWorker{Service: f.Service})
	queue.AddWorker(w, &SetupWorker{Service: f.Service})
}

// PeriodicJobs is the check of running rollouts, every CheckInterval.
func (f *Feature) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(CheckInterval),
		func() (river.JobArgs, *river.InsertOpts) { return CheckArgs{}, nil }, nil)}
}

// RegisterPushes takes the audit results WeChat pushes to the message URL
// (docs/wechat-code.md): a rollout waiting for the app's audit moves on at
// once; a lost push is caught by the rollout's poll.
func (f *Feature) RegisterPushes(m *push.Mux) {
	for _, ev := range []string{"weapp_audit_success", "weapp_audit_fail", "weapp_audit_delay"} {
		m.HandleEvent(ev, f.audit)
	}
}

func (f *Feature) audit(ctx context.Context, p push.Push) ([]byte, error) {
	msg := p.Message
	n, err := f.Service.HandleAuditEvent(ctx, p.Event.ComponentAppID, p.Event.AppID, msg.Get("Event"), msg.Get("Reason"), msg.Get("ScreenShot"))
	if err != nil {
		return nil, err
	}
	return nil, f.Service.pushedAuditEvent(ctx, p, n > 0)
}
