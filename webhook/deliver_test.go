package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/webhook"
)

const comp = "wxcomp0000000001"

// harness is a real store and River queue working webhook deliveries.
type harness struct {
	t   testing.TB
	st  *store.Store
	svc *webhook.Service
	q   queue.Queue
}

func newHarness(t testing.TB, b storetest.Backend, maxAttempts int) *harness {
	t.Helper()
	ctx := context.Background()
	st := b.New(t)
	if err := st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: comp, Name: "p", Token: "tok",
		AESKey: wxfleet.Secret(strings.Repeat("k", 43)), Secret: "sec"}); err != nil {
		t.Fatal(err)
	}
	svc := &webhook.Service{Store: st, MaxAttempts: maxAttempts, RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		Timeout: 5 * time.Second, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	ws := queue.NewWorkers(1)
	(&webhook.Feature{Service: svc}).RegisterWorkers(ws)
	cfg := &river.Config{
		Queues:            map[string]river.QueueConfig{webhook.Queue: {MaxWorkers: 4}},
		FetchPollInterval: 20 * time.Millisecond, FetchCooldown: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	}
	queue.Configure(cfg, ws)
	q, err := queue.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc.Jobs = func() webhook.Jobs { return q }
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		q.Stop(ctx)
	})
	return &harness{t: t, st: st, svc: svc, q: q}
}

func (h *harness) create(url string, events []string, tenant int64) *wxfleet.WebhookEndpoint {
	h.t.Helper()
	e, err := h.svc.Create(context.Background(), comp, webhook.CreateRequest{URL: url, Events: events, TenantID: tenant})
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

func (h *harness) emit(ev webhook.Event) {
	h.t.Helper()
	ev.ComponentAppID = comp
	if err := h.svc.Emit(context.Background(), nil, ev); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) deliveries(endpoint string, status wxfleet.DeliveryStatus) []*wxfleet.WebhookDelivery {
	h.t.Helper()
	list, err := h.st.ListWebhookDeliveries(context.Background(), wxfleet.Scope{}, comp,
		store.WebhookDeliveryFilter{EndpointID: endpoint, Status: status, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiver is an endpoint that verifies every request as docs/webhooks.md
// says, fails as told, and dedups by X-Wxfleet-Delivery.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu       sync.Mutex
	failNext int             // answer 503 to this many more requests
	failAll  bool            // answer 500 to every request
	requests map[string]int  // delivery id → requests seen
	accepted map[string]int  // delivery id → 2xx answered
	events   map[string]bool // event ids processed (first success of each delivery)
	deliv    map[string]string
	bad      []string
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, requests: map[string]int{}, accepted: map[string]int{}, events: map[string]bool{}, deliv: map[string]string{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	id := req.Header.Get(webhook.HeaderDelivery)
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	switch {
	case !receiverVerifies(r.secret, req.Header.Get(webhook.HeaderSignature), body, time.Now()):
		r.bad = append(r.bad, "bad signature on "+id)
	case req.Header.Get("Content-Type") != "application/json":
		r.bad = append(r.bad, "content type "+req.Header.Get("Content-Type"))
	case json.Unmarshal(body, &ev) != nil || ev.ID == "" || ev.Type != req.Header.Get(webhook.HeaderEvent):
		r.bad = append(r.bad, "body "+string(body))
	case r.deliv[id] != "" && r.deliv[id] != ev.ID:
		r.bad = append(r.bad, "delivery "+id+" carried two events")
	}
	r.requests[id]++
	r.deliv[id] = ev.ID
	if r.failAll || r.failNext > 0 {
		if r.failNext > 0 {
			r.failNext--
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "down for maintenance")
		return
	}
	r.accepted[id]++
	if r.accepted[id] == 1 { // the dedup a receiver does by X-Wxfleet-Delivery
		r.events[ev.ID] = true
	}
	w.WriteHeader(http.StatusNoContent)
}

// A receiver that fails the first requests, then recovers, gets every
// event, each delivery id accepted once, retries with the same id.
func TestDeliveryRetriesUntilTheReceiverRecovers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, 12)
		rcv := newReceiver(t)
		rcv.failNext = 7
		all := h.create(rcv.srv.URL+"/hooks?k=v", []string{"*"}, 0)
		rcv.secret = all.Secret.Reveal()
		// An endpoint of tenant 7 for audits only: it must get tenant 7's
		// audits and nothing else (it answers 200 always; its own receiver).
		tenantRcv := newReceiver(t)
		tenant := h.create(tenantRcv.srv.URL, []string{webhook.AuditFail, webhook.AuditSuccess}, 7)
		tenantRcv.secret = tenant.Secret.Reveal()

		var want []string
		for i, typ := range []string{webhook.AuthorizerAuthorized, webhook.MessageReceived, webhook.AuditFail, webhook.ReleaseDone,
			webhook.AuditSuccess, webhook.AuthorizerUnauthorized, webhook.SubscriptionExpiring, webhook.TenantSuspended} {
			id := webhook.EventID(typ, "test", string(rune('a'+i)))
			tenantID := int64(0)
			if i%2 == 0 {
				tenantID = 7
			}
			h.emit(webhook.Event{ID: id, Type: typ, AppID: "wxapp1", TenantID: tenantID, Data: map[string]int{"i": i}})
			want = append(want, id)
		}
		// Emitting an id again (a push WeChat retried) changes nothing.
		h.emit(webhook.Event{ID: want[0], Type: webhook.AuthorizerAuthorized, AppID: "wxapp1"})
		// An event that rolls back with its transaction is never sent.
		rolledBack := webhook.EventID("rolled back")
		boom := errors.New("boom")
		err := h.st.InTx(context.Background(), func(tx *store.Tx) error {
			if err := h.svc.Emit(context.Background(), tx.SQL(), webhook.Event{ID: rolledBack, Type: webhook.AuditDelay, ComponentAppID: comp}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}

		eventually(t, "every delivery delivered", func() bool {
			return len(h.deliveries(all.ID, wxfleet.DeliveryDelivered)) == len(want) &&
				len(h.deliveries(tenant.ID, wxfleet.DeliveryDelivered)) == 2
		})
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if len(rcv.bad) > 0 {
			t.Fatalf("receiver refused: %v", rcv.bad)
		}
		for _, id := range want {
			if !rcv.events[id] {
				t.Errorf("event %s never accepted", id)
			}
		}
		if len(rcv.events) != len(want) || rcv.events[rolledBack] {
			t.Errorf("accepted events %v, want exactly %v", rcv.events, want)
		}
		retried := 0
		for id, n := range rcv.accepted {
			if n != 1 {
				t.Errorf("delivery %s accepted %d times", id, n)
			}
			if rcv.requests[id] > 1 {
				retried++
			}
		}
		if len(rcv.accepted) != len(want) || retried == 0 {
			t.Errorf("%d deliveries accepted, %d retried (same id): want %d, some", len(rcv.accepted), retried, len(want))
		}
		// The log shows the failed attempts with their status and error.
		failed := 0
		for _, d := range h.deliveries(all.ID, "") {
			if d.Attempts != len(d.AttemptLog) || d.Attempts != rcv.requests[d.ID] {
				t.Errorf("delivery %s: %d attempts, %d logged, %d received", d.ID, d.Attempts, len(d.AttemptLog), rcv.requests[d.ID])
			}
			for _, a := range d.AttemptLog[:len(d.AttemptLog)-1] {
				failed++
				if a.StatusCode != 503 || !strings.Contains(a.Error, "503") || !strings.Contains(a.Error, "maintenance") || a.At.IsZero() {
					t.Errorf("failed attempt %+v", a)
				}
			}
			if last := d.AttemptLog[len(d.AttemptLog)-1]; last.StatusCode != 204 || last.Error != "" || d.DeliveredAt.IsZero() {
				t.Errorf("last attempt %+v of %+v", last, d)
			}
		}
		if failed != 7 {
			t.Errorf("%d failed attempts logged, want 7", failed)
		}
		// The tenant's endpoint got its tenant's audits only.
		tenantRcv.mu.Lock()
		defer tenantRcv.mu.Unlock()
		if len(tenantRcv.events) != 2 || !tenantRcv.events[want[2]] || !tenantRcv.events[want[4]] || len(tenantRcv.bad) > 0 {
			t.Errorf("tenant 7's endpoint accepted %v (bad: %v), want %s and %s", tenantRcv.events, tenantRcv.bad, want[2], want[4])
		}
	})
}

// After its last attempt a delivery is dead-lettered; a manual redelivery
// sends it again with the same delivery id.
func TestDeadLetterAndRedeliver(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, 3)
		rcv := newReceiver(t)
		rcv.failAll = true
		e := h.create(rcv.srv.URL, []string{webhook.AuthorizerAuthorized}, 0)
		rcv.secret = e.Secret.Reveal()
		h.emit(webhook.Event{Type: webhook.AuthorizerAuthorized, AppID: "wxapp1"})
		h.emit(webhook.Event{Type: webhook.MessageReceived, AppID: "wxapp1"}) // not subscribed

		eventually(t, "the delivery dead-lettered", func() bool { return len(h.deliveries("", wxfleet.DeliveryDead)) == 1 })
		dead := h.deliveries("", wxfleet.DeliveryDead)[0]
		if dead.Attempts != 3 || len(dead.AttemptLog) != 3 || dead.LastStatusCode != 503 || dead.EventType != webhook.AuthorizerAuthorized {
			t.Fatalf("dead letter %+v", dead)
		}
		if all := h.deliveries("", ""); len(all) != 1 {
			t.Fatalf("%d deliveries, want 1 (message.received is not subscribed)", len(all))
		}

		rcv.mu.Lock()
		rcv.failAll = false
		rcv.mu.Unlock()
		ctx := context.Background()
		if err := h.svc.Redeliver(ctx, comp, dead.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the redelivery", func() bool { return len(h.deliveries("", wxfleet.DeliveryDelivered)) == 1 })
		d, ev, err := h.st.WebhookDelivery(ctx, wxfleet.Scope{}, comp, dead.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Attempts != 4 || len(d.AttemptLog) != 4 || d.AttemptLog[3].StatusCode != 204 || !strings.Contains(string(ev.Payload), `"appid":"wxapp1"`) {
			t.Fatalf("after redelivery: %+v %s", d, ev.Payload)
		}
		rcv.mu.Lock()
		if rcv.requests[dead.ID] != 4 || rcv.accepted[dead.ID] != 1 || len(rcv.requests) != 1 || len(rcv.bad) > 0 {
			t.Errorf("receiver saw %v, accepted %v (bad %v): want 4 requests with one delivery id", rcv.requests, rcv.accepted, rcv.bad)
		}
		rcv.mu.Unlock()

		// Another tenant's user cannot see or redeliver it.
		other := wxfleet.WithActor(ctx, wxfleet.Actor{Role: wxfleet.RoleMerchant, TenantID: 9})
		if err := h.svc.Redeliver(other, comp, dead.ID); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			t.Errorf("tenant 9 redelivers the ISV's delivery: %v", err)
		}
		if _, err := h.svc.Get(other, comp, e.ID); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			t.Errorf("tenant 9 reads the ISV's endpoint: %v", err)
		}
	})
}

// A redirect is not followed: it is a failed attempt that says so.
func TestRedirectsAreNotFollowed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, 1)
		var followed sync.Once
		hit := false
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Do(func() { hit = true }) }))
		defer target.Close()
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
		}))
		defer redirect.Close()
		h.create(redirect.URL, []string{"*"}, 0)
		h.emit(webhook.Event{Type: webhook.ReleaseDone, AppID: "wxapp1"})
		eventually(t, "the dead letter", func() bool { return len(h.deliveries("", wxfleet.DeliveryDead)) == 1 })
		d := h.deliveries("", wxfleet.DeliveryDead)[0]
		if d.LastStatusCode != 307 || !strings.Contains(d.LastError, "redirect") || hit {
			t.Fatalf("redirect: %+v, followed %v", d, hit)
		}
	})
}

// An event about an app goes to the endpoints of the app's tenant (read
// from authorizers.tenant_id, the tenants' column; added here when this
// branch's schema lacks it) and the ISV's, not another tenant's; an event
// of a tenant without a platform (a subscription's) too.
func TestTenantEndpointsGetTheirTenantsEvents(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		h := newHarness(t, b, 3)
		ctx := context.Background()
		db := h.st.WriteDB()
		if rows, err := db.QueryContext(ctx, `SELECT tenant_id FROM authorizers WHERE 1 = 0`); err == nil {
			rows.Close()
		} else if _, err := db.ExecContext(ctx, `ALTER TABLE authorizers ADD COLUMN tenant_id BIGINT NOT NULL DEFAULT 0`); err != nil {
			t.Fatal(err)
		}
		for _, app := range []string{"wx7", "wxnone"} {
			if err := h.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: comp, AppID: app, Status: wxfleet.StatusAuthorized}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.ExecContext(ctx, `UPDATE authorizers SET tenant_id = 7 WHERE appid = 'wx7'`); err != nil {
			t.Fatal(err)
		}
		rcv := newReceiver(t)
		isv, t7, t8 := h.create(rcv.srv.URL+"/isv", []string{"*"}, 0), h.create(rcv.srv.URL+"/t7", []string{"*"}, 7), h.create(rcv.srv.URL+"/t8", []string{"*"}, 8)
		h.emit(webhook.Event{Type: webhook.AuthorizerAuthorized, AppID: "wx7"})
		h.emit(webhook.Event{Type: webhook.AuthorizerAuthorized, AppID: "wxnone"})
		if err := h.svc.Emit(ctx, nil, webhook.Event{Type: webhook.SubscriptionExpiring, TenantID: 8, Data: map[string]int{"days": 7}}); err != nil {
			t.Fatal(err)
		}
		types := func(e *wxfleet.WebhookEndpoint) map[string]int {
			out := map[string]int{}
			for _, d := range h.deliveries(e.ID, "") {
				out[d.EventType]++
			}
			return out
		}
		eventually(t, "the deliveries", func() bool { return len(h.deliveries("", "")) == 5 })
		if got := types(isv); got[webhook.AuthorizerAuthorized] != 2 || got[webhook.SubscriptionExpiring] != 1 {
			t.Errorf("the ISV's endpoint got %v", got)
		}
		if got := types(t7); len(got) != 1 || got[webhook.AuthorizerAuthorized] != 1 {
			t.Errorf("tenant 7's endpoint got %v", got)
		}
		if got := types(t8); len(got) != 1 || got[webhook.SubscriptionExpiring] != 1 {
			t.Errorf("tenant 8's endpoint got %v", got)
		}
		d := h.deliveries(t7.ID, "")[0]
		if _, ev, err := h.st.WebhookDelivery(ctx, wxfleet.Scope{TenantID: 7}, comp, d.ID); err != nil || ev.TenantID != 7 ||
			!strings.Contains(string(ev.Payload), `"tenant_id":7`) || !strings.Contains(string(ev.Payload), `"appid":"wx7"`) {
			t.Errorf("tenant 7's event: %+v %v", ev, err)
		}
	})
}

// An event nobody subscribes to is remembered as such for a moment; a
// change of subscription made here takes effect at once all the same.
func TestSubscriptionChangeTakesEffectAtOnce(t *testing.T) {
	h := newHarness(t, storetest.SQLite, 3)
	rcv := newReceiver(t)
	e := h.create(rcv.srv.URL, []string{webhook.AuthorizerAuthorized}, 0)
	rcv.secret = e.Secret.Reveal()
	h.emit(webhook.Event{Type: webhook.MessageReceived, AppID: "wxapp1"}) // not subscribed: remembered
	all := []string{"*"}
	if _, err := h.svc.Update(context.Background(), comp, e.ID, webhook.UpdateRequest{Events: &all}); err != nil {
		t.Fatal(err)
	}
	h.emit(webhook.Event{Type: webhook.MessageReceived, AppID: "wxapp1"})
	eventually(t, "the delivery", func() bool { return len(h.deliveries(e.ID, wxfleet.DeliveryDelivered)) == 1 })
	if n := len(h.deliveries("", "")); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
}
