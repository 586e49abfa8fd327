package messaging

import (
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
)

// Feature is messaging as the server wires it: the users' pushes and the
// fleet-wide apply worker. Its HTTP API is web's (web/messaging.go).
type Feature struct {
	Service *Service
}

// RegisterPushes takes the customer-service pushes (docs/wechat-capabilities.md)
// and the 订阅 popup's events.
func (f *Feature) RegisterPushes(m *push.Mux) {
	for _, t := range []string{"text", "image", "miniprogrampage"} {
		m.HandleMessage(t, f.Service.userMessage)
	}
	m.HandleEvent("user_enter_tempsession", f.Service.userMessage)
	m.HandleEvent("subscribe_msg_popup_event", f.Service.popup)
}

// RegisterWorkers adds the fleet-wide apply worker.
func (f *Feature) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &ApplyWorker{Service: f.Service})
}
