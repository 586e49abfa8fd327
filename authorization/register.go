package authorization

import (
	"context"

	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
)

// Feature is the authorization flow as the server wires it: the pushes that
// announce and cancel authorizations, and the job that completes them.
type Feature struct {
	Service *Service
	Sealer  Sealer // seals authorization codes in the job table
}

// RegisterPushes handles authorized, updateauthorized and unauthorized.
func (f *Feature) RegisterPushes(m *push.Mux) {
	m.HandleComponent("authorized", f.authorized)
	m.HandleComponent("updateauthorized", f.authorized)
	m.HandleComponent("unauthorized", f.unauthorized)
}

// RegisterWorkers adds the worker of CompleteArgs.
func (f *Feature) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &CompleteWorker{Service: f.Service, Sealer: f.Sealer})
}

// authorized enqueues the code exchange before the push is acknowledged: once
// WeChat has its "success", the job is the only record of the code.
func (f *Feature) authorized(ctx context.Context, p push.Push) error {
	ev, msg := p.Event, p.Message
	code := msg.Get("AuthorizationCode")
	if code == "" || ev.AppID == "" {
		f.Service.Logger.Warn("authorization push without code or appid", "component_appid", ev.ComponentAppID, "type", ev.Type)
		return nil
	}
	return f.Service.Queue().Insert(ctx, CompleteArgs{
		ComponentAppID:  ev.ComponentAppID,
		AuthorizerAppID: ev.AppID,
		SealedCode:      f.Sealer.SealString(code),
		PreAuthDigest:   preAuthDigest(msg.Get("PreAuthCode")),
		CreateTime:      ev.CreateTime,
	}, nil)
}

func (f *Feature) unauthorized(ctx context.Context, p push.Push) error {
	return f.Service.Revoke(ctx, p.Event.ComponentAppID, p.Event.AppID, p.Event.CreateTime)
}

// preAuthDigest is the job's record of the push's PreAuthCode: "" for none.
func preAuthDigest(code string) string {
	if code == "" {
		return ""
	}
	return store.PreAuthDigest(code)
}
