package messaging

import (
	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
)

// Feature is messaging as the server wires it: the users' pushes and the
// fleet-wide apply worker. Its HTTP API is web's (web/messaging.go).
type Feature struct {
	Service *Service
}

// RegisterPushes takes the customer-service pushes (docs/wechat-capabilities.md)
// and the subscribe messages' events (the popup, the settings' 拒收, the
// delivery reports).
func (f *Feature) RegisterPushes(m *push.Mux) {
	for _, t := range []string{"text", "image", "miniprogrampage"} {
		m.HandleMessage(t, f.Service.handlePush)
	}
	m.HandleEvent("user_enter_tempsession", f.Service.handlePush)
	m.HandleEvent("subscribe_msg_popup_event", f.Service.handlePush)
	m.HandleEvent("subscribe_msg_change_event", f.Service.handlePush)
	m.HandleEvent("subscribe_msg_sent_event", f.Service.handlePush)
}

// RegisterWorkers adds the fleet-wide apply and the catch-up workers.
func (f *Feature) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &ApplyWorker{Service: f.Service})
	queue.AddWorker(w, &CatchUpWorker{Service: f.Service})
}

// PeriodicJobs is the catch-up, at start and every CatchUpInterval.
func (f *Feature) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(CatchUpInterval),
		func() (river.JobArgs, *river.InsertOpts) { return CatchUpArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})}
}
