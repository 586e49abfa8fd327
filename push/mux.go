package push

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wxfleet/wxfleet"
)

// Push is a stored push on its way to the handler of its type.
type Push struct {
	Event   *wxfleet.Event
	Message Message
	// Inserted is false for WeChat's retries of a push stored before:
	// handlers run for those too, so they must be idempotent.
	Inserted bool
}

// ComponentFunc handles one InfoType of the authorization event URL. It runs
// before the push is acknowledged: what it must not lose it stores or
// enqueues before it returns. An error makes the receiver answer 500, and
// WeChat sends the push again.
type ComponentFunc func(ctx context.Context, p Push) error

// MessageFunc handles pushes of the message URL, with the same rules as
// ComponentFunc. It may return a passive reply (plaintext XML), which the
// receiver encrypts; nil means "success".
type MessageFunc func(ctx context.Context, p Push) (reply []byte, err error)

// Mux is the Handler that dispatches each stored push to the feature that
// registered its type, so a new kind of push (code audits, customer service,
// cards) is one registration in its own package and nothing in the wiring.
//
// The authorization event URL dispatches by InfoType. The message URL tries,
// in order: a handler for the authorizer's appid (the 全网发布 test accounts,
// whose every push belongs to the release check), a handler for the Event of
// a MsgType=event push (weapp_audit_success, ...), a handler for the MsgType
// (text, image, ...).
//
// A push that no handler claims was recorded all the same (the receiver
// stores every push before dispatching it); the Mux logs it at DEBUG and it
// is acknowledged with "success". WeChat would only retry it otherwise, and
// the stored event stays readable in the events API.
//
// Register every handler before the receiver serves: the Mux does not lock.
type Mux struct {
	logger    *slog.Logger
	component map[string]ComponentFunc // by InfoType
	apps      map[string]MessageFunc   // by authorizer appid
	events    map[string]MessageFunc   // by Event, MsgType event
	messages  map[string]MessageFunc   // by MsgType
	observers []ObserveFunc            // see every message URL push
}

// ObserveFunc sees a message URL push before its handler runs (webhooks
// send user messages out whichever feature answers them). An error fails
// the push as a handler's does: WeChat sends it again, so it must be
// idempotent.
type ObserveFunc func(ctx context.Context, p Push) error

// NewMux returns a Mux without handlers; logger gets the unhandled pushes.
func NewMux(logger *slog.Logger) *Mux {
	return &Mux{logger: logger, component: map[string]ComponentFunc{}, apps: map[string]MessageFunc{},
		events: map[string]MessageFunc{}, messages: map[string]MessageFunc{}}
}

// HandleComponent registers h for the authorization event URL's pushes of
// InfoType infoType (component_verify_ticket, authorized, ...). Registering a
// type twice panics: two features cannot both own it.
func (m *Mux) HandleComponent(infoType string, h ComponentFunc) {
	if _, dup := m.component[infoType]; dup || infoType == "" {
		panic(fmt.Sprintf("push: InfoType %q registered twice or empty", infoType))
	}
	m.component[infoType] = h
}

// HandleEvent registers h for the message URL's MsgType=event pushes whose
// Event is event (weapp_audit_success, ...).
func (m *Mux) HandleEvent(event string, h MessageFunc) { register(m.events, "Event", event, h) }

// HandleMessage registers h for the message URL's pushes of MsgType msgType
// (text, image, ...). A handler for "event" gets the events no HandleEvent
// handler claims.
func (m *Mux) HandleMessage(msgType string, h MessageFunc) {
	register(m.messages, "MsgType", msgType, h)
}

// ObserveMessages registers f to see every message URL push, before its
// handler (if any) runs. Any number of observers may register.
func (m *Mux) ObserveMessages(f ObserveFunc) { m.observers = append(m.observers, f) }

// HandleApp registers h for every message URL push of authorizer appID,
// ahead of the type handlers.
func (m *Mux) HandleApp(appID string, h MessageFunc) { register(m.apps, "appid", appID, h) }

func register(table map[string]MessageFunc, kind, key string, h MessageFunc) {
	if _, dup := table[key]; dup || key == "" {
		panic(fmt.Sprintf("push: %s %q registered twice or empty", kind, key))
	}
	table[key] = h
}

// Component implements Handler.
func (m *Mux) Component(ctx context.Context, ev *wxfleet.Event, msg Message, inserted bool) error {
	h, ok := m.component[ev.Type] // the InfoType
	if !ok {
		m.unhandled(ctx, "component", ev, inserted)
		return nil
	}
	return h(ctx, Push{Event: ev, Message: msg, Inserted: inserted})
}

// Message implements Handler.
func (m *Mux) Message(ctx context.Context, ev *wxfleet.Event, msg Message, inserted bool) ([]byte, error) {
	for _, f := range m.observers {
		if err := f(ctx, Push{Event: ev, Message: msg, Inserted: inserted}); err != nil {
			return nil, err
		}
	}
	h := m.messageHandler(ev.AppID, msg)
	if h == nil {
		m.unhandled(ctx, "app", ev, inserted)
		return nil, nil
	}
	return h(ctx, Push{Event: ev, Message: msg, Inserted: inserted})
}

func (m *Mux) messageHandler(appID string, msg Message) MessageFunc {
	if h, ok := m.apps[appID]; ok {
		return h
	}
	msgType := msg.Get("MsgType")
	if msgType == "event" {
		if h, ok := m.events[msg.Get("Event")]; ok {
			return h
		}
	}
	return m.messages[msgType]
}

func (m *Mux) unhandled(ctx context.Context, endpoint string, ev *wxfleet.Event, inserted bool) {
	// Most user messages have no handler: build no log record for them
	// unless DEBUG is on (the message URL is the hot path).
	if !m.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	m.logger.DebugContext(ctx, "push recorded; no handler for its type", "endpoint", endpoint, "type", ev.Type,
		"component_appid", ev.ComponentAppID, "appid", ev.AppID, "inserted", inserted)
}
