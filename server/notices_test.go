package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/tenant"
	"github.com/wxfleet/wxfleet/webhook"
)

// testClock is the server's injected clock, moved by the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// noticeReceiver is a tenant's (or the ISV's) system: it checks each
// delivery's signature against the secret on the server's clock and keeps
// what it accepted; anything else is refused and remembered as bad.
type noticeReceiver struct {
	srv    *httptest.Server
	clock  *testClock
	mu     sync.Mutex
	secret string
	got    []receivedNotice
	bad    []string
}

type receivedNotice struct {
	Delivery string
	Event    string // X-Wxfleet-Event
	ID       string `json:"id"`
	Type     string `json:"type"`
	TenantID int64  `json:"tenant_id"`
	Data     struct {
		Window       string `json:"window"`
		DaysLeft     int    `json:"days_left"`
		PlanID       int64  `json:"plan_id"`
		GraceSeconds int64  `json:"grace_seconds"`
	} `json:"data"`
}

func newNoticeReceiver(t *testing.T, clock *testClock) *noticeReceiver {
	r := &noticeReceiver{clock: clock}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify(r.secret, req.Header.Get("X-Wxfleet-Signature"), body, r.clock.Now(), 5*time.Minute); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		n := receivedNotice{Delivery: req.Header.Get("X-Wxfleet-Delivery"), Event: req.Header.Get("X-Wxfleet-Event")}
		if err := json.Unmarshal(body, &n); err != nil || n.Delivery == "" || n.Event != n.Type {
			r.bad = append(r.bad, "delivery "+n.Delivery+": "+string(body))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.got = append(r.got, n)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *noticeReceiver) received() []receivedNotice {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedNotice(nil), r.got...)
}

// call is one admin-token API request with a JSON body; out, if not nil,
// takes the JSON answer.
func call(t *testing.T, srv *Server, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL()+path, body)
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// waitFor polls cond until it holds or a generous ceiling passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The wiring of server/notices.go: the expiry check, run as the server's
// River job on the injected clock, sends each tenant notice it records to
// the webhook endpoints subscribed to it, signed, once. A tenant whose term
// ends in five days gets subscription.expiring (the 7-day window); at the
// end of the term subscription.expired; after the grace period
// tenant.suspended. Running the check again changes nothing: one notice, one
// event, one delivery.
func TestTenantNoticesReachWebhooks(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		clock := &testClock{now: time.Now().Truncate(time.Second)}
		const grace = 3 * 24 * time.Hour
		srv := bootWith(t, b, func(c *Config) {
			c.Now = clock.Now
			c.TenantGrace = grace
			c.JobPollInterval = 100 * time.Millisecond
			c.WebhookRetryBase = 100 * time.Millisecond
		})
		ctx := t.Context()
		rcv := newNoticeReceiver(t, clock)

		// The endpoint first: a notice recorded while nobody subscribes is not sent later.
		var hook struct {
			ID     string `json:"id"`
			Secret string `json:"secret"`
		}
		if st := call(t, srv, "POST", "/api/v1/webhooks", map[string]any{"url": rcv.srv.URL + "/notices",
			"events": []string{webhook.SubscriptionExpiring, webhook.SubscriptionExpired, webhook.TenantSuspended}}, &hook); st != 201 || hook.Secret == "" {
			t.Fatalf("create webhook: %d %+v", st, hook)
		}
		rcv.mu.Lock()
		rcv.secret = hook.Secret
		rcv.mu.Unlock()

		var plan, tn struct {
			ID int64 `json:"id"`
		}
		if st := call(t, srv, "POST", "/api/v1/plans", map[string]any{"name": "标准版", "yearly_price": 99900}, &plan); st != 201 {
			t.Fatalf("create plan: %d", st)
		}
		if st := call(t, srv, "POST", "/api/v1/tenants", map[string]any{"name": "Acme 咖啡", "contact": "ops@acme.test"}, &tn); st != 201 {
			t.Fatalf("create tenant: %d", st)
		}
		expires := clock.Now().Add(5 * 24 * time.Hour)
		if st := call(t, srv, "POST", "/api/v1/tenants/"+strconv.FormatInt(tn.ID, 10)+"/subscription",
			map[string]any{"plan_id": plan.ID, "expires_at": expires}, nil); st >= 300 {
			t.Fatalf("subscribe: %d", st)
		}

		checks := 0
		// runCheck inserts the expiry check job and waits until the queue has
		// completed it.
		runCheck := func() {
			t.Helper()
			checks++
			tag := "notices-test-" + strconv.Itoa(checks)
			if err := srv.queue.Insert(ctx, tenant.CheckArgs{}, &river.InsertOpts{Tags: []string{tag}}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the expiry check job "+tag+" to complete", func() bool {
				res, err := srv.queue.JobList(ctx, river.NewJobListParams().Kinds(tenant.CheckArgs{}.Kind()).
					States(rivertype.JobStateCompleted).First(1000))
				if err != nil {
					return false
				}
				for _, j := range res.Jobs {
					if slices.Contains(j.Tags, tag) {
						return true
					}
				}
				return false
			})
		}
		// deliveriesDone waits until no delivery job is left to run, so that
		// a duplicate, if the wiring made one, would have arrived.
		deliveriesDone := func() {
			t.Helper()
			waitFor(t, "the webhook deliveries to finish", func() bool {
				res, err := srv.queue.JobList(ctx, river.NewJobListParams().Kinds(webhook.DeliverArgs{}.Kind()).
					States(rivertype.JobStateAvailable, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStatePending).First(100))
				return err == nil && len(res.Jobs) == 0
			})
		}
		step := func(name string, want []string) {
			t.Helper()
			runCheck()
			runCheck() // the same time again: nothing new is recorded, nothing resent
			waitFor(t, name+" at the receiver", func() bool { return len(rcv.received()) >= len(want) })
			deliveriesDone()
			got := rcv.received()
			var types []string
			for _, n := range got {
				types = append(types, n.Type)
			}
			if len(got) != len(want) {
				t.Fatalf("%s: the receiver got %v, want %v", name, types, want)
			}
			for i := range want {
				if got[i].Type != want[i] {
					t.Fatalf("%s: the receiver got %v, want %v", name, types, want)
				}
			}
		}

		step("subscription.expiring", []string{webhook.SubscriptionExpiring})
		if n := rcv.received()[0]; n.TenantID != tn.ID || n.Data.Window != "7d" || n.Data.DaysLeft != 5 || n.Data.PlanID != plan.ID {
			t.Fatalf("expiring notice %+v", n)
		}

		clock.set(expires.Add(time.Minute))
		step("subscription.expired", []string{webhook.SubscriptionExpiring, webhook.SubscriptionExpired})

		clock.set(expires.Add(grace + time.Minute))
		step("tenant.suspended", []string{webhook.SubscriptionExpiring, webhook.SubscriptionExpired, webhook.TenantSuspended})
		got := rcv.received()
		if n := got[2]; n.TenantID != tn.ID || n.Data.GraceSeconds != int64(grace/time.Second) {
			t.Fatalf("suspended notice %+v", n)
		}
		var status struct {
			Status string `json:"status"`
		}
		call(t, srv, "GET", "/api/v1/tenants/"+strconv.FormatInt(tn.ID, 10), nil, &status)
		if status.Status != "suspended" {
			t.Fatalf("tenant status %q after the grace period", status.Status)
		}

		// One event and one delivery per notice: distinct ids, each delivered once.
		events, deliveries := map[string]bool{}, map[string]bool{}
		for _, n := range got {
			events[n.ID], deliveries[n.Delivery] = true, true
		}
		if len(events) != 3 || len(deliveries) != 3 {
			t.Fatalf("events %v, deliveries %v: want three of each", events, deliveries)
		}
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if len(rcv.bad) > 0 {
			t.Fatalf("the receiver refused: %v", rcv.bad)
		}
	})
}
