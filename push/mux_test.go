package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/wxfleet/wxfleet"
)

func parse(t *testing.T, doc string) Message {
	t.Helper()
	m, err := ParseMessage([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMuxRoutesByType(t *testing.T) {
	m := NewMux(slog.New(slog.DiscardHandler))
	var got []string
	component := func(name string) ComponentFunc {
		return func(ctx context.Context, p Push) error {
			got = append(got, fmt.Sprintf("%s:%s:%v", name, p.Event.AppID, p.Inserted))
			return nil
		}
	}
	message := func(name string) MessageFunc {
		return func(ctx context.Context, p Push) ([]byte, error) {
			got = append(got, name+":"+p.Event.AppID)
			return []byte(name), nil
		}
	}
	m.HandleComponent("component_verify_ticket", component("ticket"))
	m.HandleComponent("authorized", component("authorized"))
	m.HandleEvent("weapp_audit_success", message("audit"))
	m.HandleMessage("event", message("other-event"))
	m.HandleMessage("text", message("text"))
	m.HandleApp("wxtest", message("test-account"))

	comp := func(infoType, appID string, inserted bool) {
		ev := &wxfleet.Event{Type: infoType, AppID: appID}
		if err := m.Component(context.Background(), ev, parse(t, "<xml><InfoType>"+infoType+"</InfoType></xml>"), inserted); err != nil {
			t.Fatal(err)
		}
	}
	comp("authorized", "wxa", true)
	comp("component_verify_ticket", "", false)
	comp("notify_third_fasteregister", "wxb", true) // no handler: nothing runs

	msg := func(appID, doc string) string {
		reply, err := m.Message(context.Background(), &wxfleet.Event{AppID: appID}, parse(t, doc), true)
		if err != nil {
			t.Fatal(err)
		}
		return string(reply)
	}
	replies := []string{
		msg("wxa", "<xml><MsgType>event</MsgType><Event>weapp_audit_success</Event></xml>"),
		msg("wxa", "<xml><MsgType>event</MsgType><Event>weapp_audit_fail</Event></xml>"),
		msg("wxa", "<xml><MsgType>text</MsgType><Content>hi</Content></xml>"),
		msg("wxa", "<xml><MsgType>image</MsgType></xml>"),
		msg("wxtest", "<xml><MsgType>event</MsgType><Event>weapp_audit_success</Event></xml>"),
		msg("wxtest", "<xml><MsgType>text</MsgType></xml>"),
	}
	want := "[authorized:wxa:true ticket::false audit:wxa other-event:wxa text:wxa test-account:wxtest test-account:wxtest]"
	if fmt.Sprint(got) != want {
		t.Errorf("handlers ran:\n%v\nwant\n%v", got, want)
	}
	if w := "[audit other-event text  test-account test-account]"; fmt.Sprint(replies) != w {
		t.Errorf("replies %v, want %v", replies, w)
	}
}

func TestMuxRefusesTwoOwners(t *testing.T) {
	for name, register := range map[string]func(m *Mux){
		"InfoType": func(m *Mux) { m.HandleComponent("authorized", func(context.Context, Push) error { return nil }) },
		"Event": func(m *Mux) {
			m.HandleEvent("weapp_audit_fail", func(context.Context, Push) ([]byte, error) { return nil, nil })
		},
		"MsgType": func(m *Mux) { m.HandleMessage("text", func(context.Context, Push) ([]byte, error) { return nil, nil }) },
		"appid":   func(m *Mux) { m.HandleApp("wxapp", func(context.Context, Push) ([]byte, error) { return nil, nil }) },
	} {
		m := NewMux(slog.New(slog.DiscardHandler))
		register(m)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s registered twice without a panic", name)
				}
			}()
			register(m)
		}()
	}
}

// syncBuffer is a log sink the receiver's goroutines may write concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUnhandledPushIsRecordedAndAcked(t *testing.T) {
	var log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := NewMux(logger)
	m.HandleComponent("component_verify_ticket", func(context.Context, Push) error { return errors.New("not this one") })
	m.HandleEvent("weapp_audit_success", func(context.Context, Push) ([]byte, error) { return nil, errors.New("not this one") })
	r := newRigWith(t, &rig{}, m, logger)

	fast := `<xml><AppId><![CDATA[wxcomponent]]></AppId><CreateTime>1700000000</CreateTime><InfoType><![CDATA[notify_third_fasteregister]]></InfoType><appid><![CDATA[wxnew]]></appid><status>0</status></xml>`
	if st, body := r.send(t, "/wechat/component", fast, r.now); st != 200 || body != "success" {
		t.Fatalf("unhandled component push: %d %q", st, body)
	}
	audit := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[wxa_nickname_audit]]></Event></xml>`
	if st, body := r.send(t, "/wechat/apps/wxapp", audit, r.now); st != 200 || body != "success" {
		t.Fatalf("unhandled message push: %d %q", st, body)
	}
	if len(r.store.events) != 2 || r.store.events[0].Type != "notify_third_fasteregister" || r.store.events[0].AppID != "wxnew" ||
		r.store.events[1].Type != "wxa_nickname_audit" {
		t.Fatalf("stored %+v", r.store.events)
	}
	for _, typ := range []string{"notify_third_fasteregister", "wxa_nickname_audit"} {
		if !strings.Contains(log.String(), "level=DEBUG msg=\"push recorded; no handler for its type\"") || !strings.Contains(log.String(), "type="+typ) {
			t.Errorf("no DEBUG line for %s in:\n%s", typ, log.String())
		}
	}
}

// A code audit result reaches the feature that registered it, through the
// real receiver, and a failing handler is not acknowledged: the push is
// stored first, and WeChat's retry runs the handler again (Inserted false).
func TestAuditResultReachesItsHandler(t *testing.T) {
	m := NewMux(slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	var seen []Push
	fail := errors.New("rollout store unavailable")
	m.HandleEvent("weapp_audit_success", func(ctx context.Context, p Push) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, p)
		if len(seen) == 1 {
			return nil, fail
		}
		return nil, nil
	})
	r := newRigWith(t, &rig{}, m, slog.New(slog.DiscardHandler))
	audit := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_system]]></FromUserName><CreateTime>1700000002</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[weapp_audit_success]]></Event><SuccTime>1700000002</SuccTime></xml>`
	if st, body := r.send(t, "/wechat/apps/wxapp", audit, r.now); st != 500 || body == "success" {
		t.Fatalf("failing handler acknowledged: %d %q", st, body)
	}
	if st, body := r.send(t, "/wechat/apps/wxapp", audit, r.now); st != 200 || body != "success" {
		t.Fatalf("retry: %d %q", st, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || !seen[0].Inserted || seen[1].Inserted {
		t.Fatalf("handler saw %d pushes (inserted %v)", len(seen), func() []bool {
			var b []bool
			for _, p := range seen {
				b = append(b, p.Inserted)
			}
			return b
		}())
	}
	p := seen[1]
	if p.Event.AppID != "wxapp" || p.Event.Type != "weapp_audit_success" || p.Message.Int("SuccTime") != 1700000002 || p.Event.ComponentAppID != "wxcomponent" {
		t.Errorf("handler got %+v %v", p.Event, p.Message)
	}
	if len(r.store.events) != 1 {
		t.Errorf("stored %d events, want 1", len(r.store.events))
	}
}
