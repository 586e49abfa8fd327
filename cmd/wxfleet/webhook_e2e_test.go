package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/webhook"
)

// hookReceiver is the ISV's system: it verifies every delivery's signature
// and keeps the events it accepted.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	events []hookEvent
	bad    []string
}

type hookEvent struct {
	Delivery string
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	AppID    string          `json:"appid"`
	Data     json.RawMessage `json:"data"`
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify(r.secret, req.Header.Get("X-Wxfleet-Signature"), body, time.Now(), 5*time.Minute); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ev := hookEvent{Delivery: req.Header.Get("X-Wxfleet-Delivery")}
		if err := json.Unmarshal(body, &ev); err != nil || ev.Type != req.Header.Get("X-Wxfleet-Event") || ev.Delivery == "" {
			r.bad = append(r.bad, "body "+string(body))
		}
		r.events = append(r.events, ev)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// of returns the accepted events of type typ about appid.
func (r *hookReceiver) of(typ, appid string) []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hookEvent
	for _, e := range r.events {
		if e.Type == typ && e.AppID == appid {
			out = append(out, e)
		}
	}
	return out
}

// Through the real demo and the sandbox: an app authorized in the sandbox
// reaches the ISV's receiver as a signed authorizer.authorized, a user's
// message as message.received, the merchant cancelling as
// authorizer.unauthorized; the delivery log shows them delivered.
func TestDemoSendsWebhooks(t *testing.T) { demoSendsWebhooks(t, bootDemo(t)) }

func TestDemoSendsWebhooksOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	demoSendsWebhooks(t, bootDemoWith(t, func(o *demoOptions) { o.Database = dsn }))
}

func demoSendsWebhooks(t *testing.T, d *testDemo) {
	rcv := newHookReceiver(t)
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if st := d.api("POST", "/api/v1/webhooks", map[string]any{"url": rcv.srv.URL + "/wxfleet",
		"events": []string{"authorizer.authorized", "authorizer.updated", "authorizer.unauthorized", "message.received"}}, &created); st != 201 ||
		created.ID == "" || !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("create webhook: %d %+v", st, created)
	}
	rcv.mu.Lock()
	rcv.secret = created.Secret
	rcv.mu.Unlock()
	var got map[string]any
	if st := d.api("GET", "/api/v1/webhooks/"+created.ID, nil, &got); st != 200 || got["secret"] != nil || got["url"] != rcv.srv.URL+"/wxfleet" {
		t.Fatalf("get webhook: %d %v (the secret is shown once only)", st, got)
	}
	var bad struct {
		Code string `json:"code"`
	}
	if st := d.api("POST", "/api/v1/webhooks", map[string]any{"url": "https://u:p@example.com/", "events": []string{"*"}}, &bad); st != 400 || bad.Code != "invalid" {
		t.Fatalf("credentials in the URL: %d %+v", st, bad)
	}
	if st := d.api("POST", "/api/v1/webhooks", map[string]any{"url": "https://example.com/", "events": []string{"nope"}}, &bad); st != 400 {
		t.Fatalf("unknown event type: %d", st)
	}

	// Authorize, the browser coming back (the push arrives too: one event).
	app := d.miniPrograms()[2]
	var link struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{"merchant": "m-hook"}, &link)
	var redir struct {
		RedirectURL string `json:"redirect_url"`
	}
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": app.AppID}, &redir); st != 200 {
		t.Fatalf("sandbox authorize: %d", st)
	}
	if resp, err := http.Get(redir.RedirectURL); err == nil {
		resp.Body.Close()
	}
	d.eventually("authorizer.authorized at the receiver", func() bool { return len(rcv.of("authorizer.authorized", app.AppID)) > 0 })
	var data struct {
		AppID    string `json:"appid"`
		Merchant string `json:"merchant"`
		Status   string `json:"status"`
	}
	ev := rcv.of("authorizer.authorized", app.AppID)[0]
	if err := json.Unmarshal(ev.Data, &data); err != nil || data.AppID != app.AppID || data.Merchant != "m-hook" || data.Status != "authorized" {
		t.Fatalf("authorized data %s", ev.Data)
	}

	// A user's message.
	var sent struct {
		Status int `json:"status"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+app.AppID+"/messages", map[string]any{"content": "你好，在吗"}, &sent)
	if sent.Status != 200 {
		t.Fatalf("user message: %+v", sent)
	}
	d.eventually("message.received at the receiver", func() bool { return len(rcv.of("message.received", app.AppID)) > 0 })
	var msg struct {
		MsgType string            `json:"msg_type"`
		OpenID  string            `json:"openid"`
		Fields  map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(rcv.of("message.received", app.AppID)[0].Data, &msg); err != nil || msg.MsgType != "text" ||
		msg.Fields["Content"] != "你好，在吗" || msg.OpenID == "" {
		t.Fatalf("message data %+v (%v)", msg, err)
	}

	// The merchant authorizes again with fewer permission sets (updateauthorized).
	var link2 struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{}, &link2)
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link2.PCURL, "appid": app.AppID, "func": []int{17, 18}}, nil); st != 200 {
		t.Fatalf("re-authorize: %d", st)
	}
	d.eventually("authorizer.updated at the receiver", func() bool { return len(rcv.of("authorizer.updated", app.AppID)) > 0 })
	var upd struct {
		Permissions []int `json:"permissions"`
	}
	if err := json.Unmarshal(rcv.of("authorizer.updated", app.AppID)[0].Data, &upd); err != nil || len(upd.Permissions) != 2 {
		t.Fatalf("updated data %+v (%v)", upd, err)
	}

	// The merchant cancels.
	if st := d.sandbox("POST", "/sandbox/api/apps/"+app.AppID+"/unauthorize", map[string]any{}, nil); st != 200 {
		t.Fatalf("sandbox unauthorize: %d", st)
	}
	d.eventually("authorizer.unauthorized at the receiver", func() bool { return len(rcv.of("authorizer.unauthorized", app.AppID)) > 0 })

	// One authorization is one event, though both the callback and the push reported it.
	ids := map[string]bool{}
	for _, e := range rcv.of("authorizer.authorized", app.AppID) {
		ids[e.ID] = true
	}
	if len(ids) != 1 {
		t.Errorf("authorizer.authorized events: %v, want one", ids)
	}
	rcv.mu.Lock()
	if len(rcv.bad) > 0 {
		t.Errorf("receiver refused: %v", rcv.bad)
	}
	rcv.mu.Unlock()

	var log struct {
		Items []struct {
			ID         string `json:"id"`
			EventType  string `json:"event_type"`
			Status     string `json:"status"`
			AttemptLog []struct {
				StatusCode int `json:"status_code"`
			} `json:"attempt_log"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	d.eventually("the delivery log to show four deliveries delivered", func() bool {
		d.api("GET", "/api/v1/webhooks/"+created.ID+"/deliveries", nil, &log)
		n := 0
		for _, it := range log.Items {
			if it.Status == "delivered" && len(it.AttemptLog) >= 1 && it.AttemptLog[len(it.AttemptLog)-1].StatusCode == 200 {
				n++
			}
		}
		return n == 4 && len(log.Items) == 4
	})
	var dead struct {
		Items []any `json:"items"`
	}
	if st := d.api("GET", "/api/v1/webhooks/dead-letters", nil, &dead); st != 200 || len(dead.Items) != 0 {
		t.Fatalf("dead letters: %d %v", st, dead)
	}
	if strings.Contains(d.log.String(), created.Secret) {
		t.Error("the webhook secret appears in the log")
	}
	if st := d.api("DELETE", "/api/v1/webhooks/"+created.ID, nil, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
}

// A rollout through the sandbox sends every audit result and every release
// out: audit.success and release.done for each released app, audit.fail
// with WeChat's reason for the rejected one, each once.
func TestDemoSendsRolloutWebhooks(t *testing.T) {
	d := bootDemo(t)
	rcv := newHookReceiver(t)
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if st := d.api("POST", "/api/v1/webhooks", map[string]any{"url": rcv.srv.URL,
		"events": []string{"audit.success", "audit.fail", "release.done"}}, &created); st != 201 {
		t.Fatalf("create webhook: %d", st)
	}
	rcv.mu.Lock()
	rcv.secret = created.Secret
	rcv.mu.Unlock()
	apps := d.authorizeAll()
	if st := d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1s", "reject_words": []string{"违规"}}, nil); st != 200 {
		t.Fatalf("audit rules: %d", st)
	}
	rejected := apps[0].AppID
	for i, a := range apps {
		name := fmt.Sprintf("门店 %d", i)
		if a.AppID == rejected {
			name = "违规门店"
		}
		if st := d.api("PUT", "/api/v1/authorizers/"+a.AppID+"/settings", map[string]any{"shop": map[string]any{"name": name}}, nil); st != 200 {
			t.Fatalf("settings of %s: %d", a.AppID, st)
		}
	}
	tmpl := d.makeTemplate("2.0.0", `{"ext":{"shopName":"${settings.shop.name}"}}`)
	var r rolloutStatus
	if st := d.api("POST", "/api/v1/rollouts", map[string]any{"template_id": tmpl, "targets": map[string]bool{"all": true},
		"batch_size": 3, "max_failure_ratio": 1}, &r); st != 201 {
		t.Fatalf("create rollout: %d", st)
	}
	d.waitRollout(r.ID, "completed")
	d.eventually("every release and audit result at the receiver", func() bool {
		for _, a := range apps {
			if a.AppID == rejected {
				if len(rcv.of("audit.fail", a.AppID)) == 0 {
					return false
				}
			} else if len(rcv.of("release.done", a.AppID)) == 0 || len(rcv.of("audit.success", a.AppID)) == 0 {
				return false
			}
		}
		return true
	})
	for _, a := range apps {
		for _, typ := range []string{"release.done", "audit.success", "audit.fail"} {
			ids := map[string]bool{}
			for _, e := range rcv.of(typ, a.AppID) {
				ids[e.ID] = true
			}
			want := 1
			if (a.AppID == rejected) != (typ == "audit.fail") {
				want = 0
			}
			if len(ids) != want {
				t.Errorf("%s of %s: %d events, want %d", typ, a.AppID, len(ids), want)
			}
		}
	}
	var fail struct {
		Reason string `json:"reason"`
		Result string `json:"result"`
	}
	if err := json.Unmarshal(rcv.of("audit.fail", rejected)[0].Data, &fail); err != nil || fail.Result != "fail" || fail.Reason == "" {
		t.Errorf("audit.fail data %+v (%v)", fail, err)
	}
	var rel struct {
		RolloutID   int64  `json:"rollout_id"`
		UserVersion string `json:"user_version"`
	}
	if err := json.Unmarshal(rcv.of("release.done", apps[1].AppID)[0].Data, &rel); err != nil || rel.RolloutID != r.ID || rel.UserVersion != "2.0.0" {
		t.Errorf("release.done data %+v (%v)", rel, err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) > 0 {
		t.Errorf("receiver refused: %v", rcv.bad)
	}
}
