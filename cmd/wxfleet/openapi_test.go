package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet/web/openapitest"
)

// sampler sends requests to the demo and validates each exchange against
// the API description (web/openapi/) with libopenapi-validator.
type sampler struct {
	t   *testing.T
	d   *testDemo
	doc *openapitest.Doc
}

// req is one sample: the documented operation it is for ("GET
// /api/v1/rollouts/{id}"), the concrete path with its query, the JSON body.
type req struct {
	op   string
	path string
	body any
	raw  []byte // sent as it is instead of body
	// noToken leaves out the Authorization header; bad marks a request
	// that breaks the description on purpose (only its answer is checked).
	noToken, bad bool
	token        string            // instead of the admin token (a runtime session's)
	header       map[string]string // more request headers
}

// send makes the exchange, checks it against the description and returns
// the status and body.
func (s *sampler) send(r req) (int, []byte) {
	s.t.Helper()
	method, _, _ := strings.Cut(r.op, " ")
	body := r.raw
	if body == nil && r.body != nil {
		body, _ = json.Marshal(r.body)
	}
	hr, err := http.NewRequest(method, s.d.Platform.URL()+r.path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	switch {
	case r.token != "":
		hr.Header.Set("Authorization", "Bearer "+r.token)
	case !r.noToken:
		hr.Header.Set("Authorization", "Bearer "+s.d.AdminToken)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		s.t.Fatalf("%s: %v", r.op, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		s.t.Fatalf("%s: %v", r.op, err)
	}
	s.doc.Check(s.t, r.op, openapitest.Exchange{Request: hr, RequestBody: body, Response: resp, Body: got}, r.bad)
	return resp.StatusCode, got
}

// want sends r, requires the status and decodes the answer into out.
func (s *sampler) want(status int, r req, out any) {
	s.t.Helper()
	st, body := s.send(r)
	if st != status {
		s.t.Fatalf("%s (%s): HTTP %d, want %d: %s", r.op, r.path, st, status, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			s.t.Fatalf("%s: %v: %s", r.op, err, body)
		}
	}
}

// Every documented operation answers as the description says: each is
// driven on the real demo (platform and sandbox) into a success, many into
// errors too, every request and response checked with libopenapi-validator
// — status, headers (X-Request-Id) and body. An operation without a
// validated success fails the test by name: a route added to the
// description gets its sample here (docs/api.md).
func TestOpenAPIResponsesMatchTheDocument(t *testing.T) {
	doc := openapitest.Load(t)
	d := bootDemo(t)
	s := &sampler{t: t, d: d, doc: doc}

	// Without the token every guarded route answers 401 in the Error shape.
	for _, op := range doc.Operations {
		if op.Public {
			continue
		}
		s.want(http.StatusUnauthorized, req{op: op.String(), path: openapitest.Concrete(op.Path, "x1"), noToken: true, bad: true}, nil)
	}

	s.want(200, req{op: "GET /api/v1/openapi.json", path: "/api/v1/openapi.json", noToken: true}, nil)
	s.want(200, req{op: "GET /api/v1/platforms", path: "/api/v1/platforms"}, nil)
	s.want(201, req{op: "POST /api/v1/authorization-links", path: "/api/v1/authorization-links",
		body: map[string]any{"merchant": "m-1", "auth_type": 2, "expires_in": 3600}}, nil)
	s.want(201, req{op: "POST /api/v1/authorization-links", path: "/api/v1/authorization-links"}, nil) // no body at all

	apps := d.authorizeAll()
	a1, a2 := apps[0].AppID, apps[1].AppID

	// Authorizers.
	s.want(200, req{op: "GET /api/v1/authorizers", path: "/api/v1/authorizers"}, nil)
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	s.want(200, req{op: "GET /api/v1/authorizers", path: "/api/v1/authorizers?status=authorized&limit=1"}, &page)
	if page.NextCursor == "" {
		t.Fatal("a page of one authorizer of several has no next_cursor")
	}
	s.want(200, req{op: "GET /api/v1/authorizers", path: "/api/v1/authorizers?limit=1&cursor=" + page.NextCursor}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers", path: "/api/v1/authorizers?limit=1&total=true&cursor=" + page.NextCursor}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers", path: "/api/v1/authorizers?total=false"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers", path: "/api/v1/authorizers?tenant_id=1"}, nil)
	s.want(400, req{op: "GET /api/v1/authorizers", path: "/api/v1/authorizers?tenant_id=0", bad: true}, nil)
	s.want(400, req{op: "GET /api/v1/authorizers", path: "/api/v1/authorizers?total=maybe", bad: true}, nil)
	s.want(400, req{op: "GET /api/v1/authorizers", path: "/api/v1/authorizers?limit=0", bad: true}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}", path: "/api/v1/authorizers/" + a1}, nil)
	s.want(404, req{op: "GET /api/v1/authorizers/{appid}", path: "/api/v1/authorizers/wxnosuchapp"}, nil)
	s.want(404, req{op: "GET /api/v1/authorizers/{appid}", path: "/api/v1/authorizers/" + a1 + "?platform=wxnosuchplatform"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/access-token", path: "/api/v1/authorizers/" + a1 + "/access-token"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/wechat/{path}", path: "/api/v1/authorizers/" + a1 + "/wechat/wxa/get_category"}, nil)
	s.want(403, req{op: "GET /api/v1/authorizers/{appid}/wechat/{path}", path: "/api/v1/authorizers/" + a1 + "/wechat/not/wechat"}, nil)
	s.want(200, req{op: "POST /api/v1/authorizers/{appid}/wechat/{path}", path: "/api/v1/authorizers/" + a1 + "/wechat/wxa/getversioninfo", body: map[string]any{}}, nil)

	// Settings and tags.
	s.want(200, req{op: "PUT /api/v1/authorizers/{appid}/settings", path: "/api/v1/authorizers/" + a1 + "/settings",
		body: map[string]any{"shop": map[string]any{"name": "一号店"}}}, nil)
	s.want(200, req{op: "PUT /api/v1/authorizers/{appid}/settings", path: "/api/v1/authorizers/" + a2 + "/settings",
		body: map[string]any{"shop": map[string]any{"name": "二号店"}}}, nil)
	s.want(200, req{op: "PUT /api/v1/authorizers/{appid}/tags", path: "/api/v1/authorizers/" + a1 + "/tags", body: map[string]any{"tags": []string{"east"}}}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/settings", path: "/api/v1/authorizers/" + a1 + "/settings"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/settings", path: "/api/v1/authorizers/" + apps[2].AppID + "/settings"}, nil) // none set

	// Pushes: the ticket and the authorizations are stored.
	s.want(200, req{op: "GET /api/v1/events", path: "/api/v1/events"}, nil)
	s.want(200, req{op: "GET /api/v1/events", path: "/api/v1/events?type=component_verify_ticket&limit=1"}, nil)
	s.want(400, req{op: "GET /api/v1/events", path: "/api/v1/events?cursor=nope", bad: true}, nil)

	// Templates.
	if st := d.sandbox("POST", "/sandbox/api/audit-rules", map[string]any{"delay": "1h"}, nil); st != 200 {
		t.Fatalf("audit rules: %d", st)
	}
	var draft struct {
		DraftID int64 `json:"draft_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/drafts", map[string]any{"user_version": "2.0.0", "user_desc": "版本 2.0.0",
		"pages": []string{"pages/index/index"}}, &draft); st != 200 && st != 201 {
		t.Fatalf("sandbox draft: %d", st)
	}
	s.want(200, req{op: "GET /api/v1/templates/drafts", path: "/api/v1/templates/drafts"}, nil)
	var tmpl struct {
		TemplateID int64 `json:"template_id"`
	}
	ext := `{"ext":{"shopName":"${settings.shop.name}"}}`
	s.want(201, req{op: "POST /api/v1/templates", path: "/api/v1/templates", body: map[string]any{"draft_id": draft.DraftID, "ext_json": ext, "notes": "openapi"}}, &tmpl)
	var spare struct {
		TemplateID int64 `json:"template_id"`
	}
	s.want(201, req{op: "POST /api/v1/templates", path: "/api/v1/templates", body: map[string]any{"draft_id": draft.DraftID, "template_type": 0}}, &spare)
	s.want(400, req{op: "POST /api/v1/templates", path: "/api/v1/templates", raw: []byte(`{"draft_id": "one"}`), bad: true}, nil)
	s.want(413, req{op: "POST /api/v1/templates", path: "/api/v1/templates", raw: bytes.Repeat([]byte(" "), 2<<20), bad: true}, nil)
	s.want(200, req{op: "GET /api/v1/templates", path: "/api/v1/templates"}, nil)
	s.want(200, req{op: "POST /api/v1/templates/sync", path: "/api/v1/templates/sync"}, nil)
	tp := fmt.Sprintf("/api/v1/templates/%d", tmpl.TemplateID)
	s.want(200, req{op: "GET /api/v1/templates/{id}", path: tp}, nil)
	s.want(400, req{op: "GET /api/v1/templates/{id}", path: "/api/v1/templates/0", bad: true}, nil)
	s.want(404, req{op: "GET /api/v1/templates/{id}", path: "/api/v1/templates/999999"}, nil)
	s.want(200, req{op: "PUT /api/v1/templates/{id}", path: tp, body: map[string]any{"ext_json": ext, "notes": "openapi, edited"}}, nil)
	s.want(200, req{op: "GET /api/v1/templates/{id}/ext-json", path: tp + "/ext-json?appid=" + a1}, nil)
	s.want(204, req{op: "DELETE /api/v1/templates/{id}", path: fmt.Sprintf("/api/v1/templates/%d", spare.TemplateID)}, nil)

	// Rollouts: a plan, then one rollout through every action the state
	// allows (the audit held an hour, release manual), and one cancelled.
	create := map[string]any{"template_id": tmpl.TemplateID, "targets": map[string]any{"appids": []string{a1, a2}},
		"release": "manual", "batch_size": 2, "max_failure_ratio": 0.5}
	dry := map[string]any{"dry_run": true}
	for k, v := range create {
		dry[k] = v
	}
	s.want(200, req{op: "POST /api/v1/rollouts", path: "/api/v1/rollouts", body: dry}, nil)
	var ro struct {
		ID int64 `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/rollouts", path: "/api/v1/rollouts", body: create}, &ro)
	s.want(400, req{op: "POST /api/v1/rollouts", path: "/api/v1/rollouts", body: map[string]any{"template_id": tmpl.TemplateID}, bad: true}, nil)
	rp := fmt.Sprintf("/api/v1/rollouts/%d", ro.ID)
	s.want(200, req{op: "POST /api/v1/rollouts/{id}/pause", path: rp + "/pause"}, nil)
	s.want(409, req{op: "POST /api/v1/rollouts/{id}/pause", path: rp + "/pause"}, nil)
	s.want(200, req{op: "POST /api/v1/rollouts/{id}/resume", path: rp + "/resume", body: map[string]any{}}, nil)
	d.eventually("the rollout's apps under audit", func() bool {
		var r struct {
			Counts map[string]int `json:"counts"`
		}
		s.want(200, req{op: "GET /api/v1/rollouts/{id}", path: rp}, &r)
		return r.Counts["auditing"] == 2
	})
	s.want(200, req{op: "GET /api/v1/rollouts/{id}/apps", path: rp + "/apps"}, nil)
	s.want(200, req{op: "GET /api/v1/rollouts/{id}/apps", path: rp + "/apps?state=auditing&cohort=0&limit=1"}, nil)
	s.want(200, req{op: "POST /api/v1/rollouts/{id}/speedup-audit", path: rp + "/speedup-audit", body: map[string]any{"cohort": 0}}, nil)
	s.want(200, req{op: "POST /api/v1/rollouts/{id}/undo-audit", path: rp + "/undo-audit", body: map[string]any{"appids": []string{a2}}}, nil)
	s.want(200, req{op: "POST /api/v1/rollouts/{id}/retry-failed", path: rp + "/retry-failed"}, nil)
	s.want(200, req{op: "POST /api/v1/rollouts/{id}/release", path: rp + "/release", body: map[string]any{"appids": []string{a1}}}, nil)
	s.want(200, req{op: "POST /api/v1/rollouts/{id}/rollback", path: rp + "/rollback", body: map[string]any{"to_version": ""}}, nil)
	s.want(200, req{op: "GET /api/v1/rollouts", path: "/api/v1/rollouts"}, nil)
	s.want(200, req{op: "GET /api/v1/rollouts", path: "/api/v1/rollouts?limit=1"}, nil)
	s.want(404, req{op: "GET /api/v1/rollouts/{id}", path: "/api/v1/rollouts/999999"}, nil)

	var other struct {
		ID int64 `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/rollouts", path: "/api/v1/rollouts",
		body: map[string]any{"template_id": tmpl.TemplateID, "targets": map[string]any{"tags": []string{"east"}}}}, &other)
	op := fmt.Sprintf("/api/v1/rollouts/%d", other.ID)
	s.want(200, req{op: "POST /api/v1/rollouts/{id}/cancel", path: op + "/cancel"}, nil)
	s.want(409, req{op: "POST /api/v1/rollouts/{id}/cancel", path: op + "/cancel"}, nil)

	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/versions", path: "/api/v1/authorizers/" + a1 + "/versions"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/versions", path: "/api/v1/authorizers/" + a1 + "/versions?wechat=1&limit=5"}, nil)
	s.want(200, req{op: "GET /api/v1/tokens/health", path: "/api/v1/tokens/health"}, nil)

	// Tenants, plans and subscriptions.
	var plan struct {
		ID int64 `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/plans", path: "/api/v1/plans",
		body: map[string]any{"name": "标准版", "yearly_price": 99900, "max_mini_programs": 5, "features": []string{"pay"}}}, &plan)
	s.want(400, req{op: "POST /api/v1/plans", path: "/api/v1/plans", body: map[string]any{"name": ""}}, nil)
	pp := fmt.Sprintf("/api/v1/plans/%d", plan.ID)
	s.want(200, req{op: "GET /api/v1/plans", path: "/api/v1/plans"}, nil)
	s.want(200, req{op: "GET /api/v1/plans/{id}", path: pp}, nil)
	s.want(404, req{op: "GET /api/v1/plans/{id}", path: "/api/v1/plans/999999"}, nil)
	s.want(200, req{op: "PATCH /api/v1/plans/{id}", path: pp, body: map[string]any{"yearly_price": 129900}}, nil)
	var ten struct {
		ID int64 `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/tenants", path: "/api/v1/tenants",
		body: map[string]any{"name": "一号商户", "contact": "ops@example.com", "tags": []string{"east"}}}, &ten)
	s.want(400, req{op: "POST /api/v1/tenants", path: "/api/v1/tenants", body: map[string]any{"name": ""}}, nil)
	tenp := fmt.Sprintf("/api/v1/tenants/%d", ten.ID)
	s.want(200, req{op: "GET /api/v1/tenants", path: "/api/v1/tenants"}, nil)
	s.want(200, req{op: "GET /api/v1/tenants", path: "/api/v1/tenants?status=trial&tag=east&limit=1"}, nil)
	s.want(400, req{op: "GET /api/v1/tenants", path: "/api/v1/tenants?cursor=nope", bad: true}, nil)
	s.want(200, req{op: "GET /api/v1/tenants/{id}", path: tenp}, nil) // no plan, no subscription yet
	s.want(404, req{op: "GET /api/v1/tenants/{id}", path: "/api/v1/tenants/999999"}, nil)
	s.want(200, req{op: "PATCH /api/v1/tenants/{id}", path: tenp, body: map[string]any{"contact": "boss@example.com", "plan_id": plan.ID}}, nil)
	s.want(200, req{op: "PUT /api/v1/tenants/{id}/settings", path: tenp + "/settings", body: map[string]any{"theme": "red", "banner": map[string]any{"on": true}}}, nil)
	s.want(200, req{op: "GET /api/v1/tenants/{id}/settings", path: tenp + "/settings"}, nil)
	s.want(201, req{op: "POST /api/v1/tenants/{id}/authorization-links", path: tenp + "/authorization-links", body: map[string]any{"merchant": "m-t1", "auth_type": 2}}, nil)
	s.want(201, req{op: "POST /api/v1/tenants/{id}/subscription", path: tenp + "/subscription", body: map[string]any{"plan_id": plan.ID, "years": 1}}, nil)
	s.want(200, req{op: "GET /api/v1/tenants/{id}/subscription", path: tenp + "/subscription"}, nil)
	s.want(200, req{op: "POST /api/v1/tenants/{id}/subscription/renew", path: tenp + "/subscription/renew", body: map[string]any{"years": 2}}, nil)
	s.want(200, req{op: "GET /api/v1/tenants/{id}/reminders", path: tenp + "/reminders"}, nil)
	s.want(200, req{op: "PUT /api/v1/authorizers/{appid}/tenant", path: "/api/v1/authorizers/" + a2 + "/tenant", body: map[string]any{"tenant_id": ten.ID}}, nil)
	s.want(200, req{op: "GET /api/v1/tenants/{id}", path: tenp}, nil) // with its app, plan and subscription
	s.want(200, req{op: "PUT /api/v1/authorizers/{appid}/tenant", path: "/api/v1/authorizers/" + a2 + "/tenant", body: map[string]any{"tenant_id": nil}}, nil)
	s.want(404, req{op: "PUT /api/v1/authorizers/{appid}/tenant", path: "/api/v1/authorizers/wxnosuchapp/tenant", body: map[string]any{"tenant_id": ten.ID}}, nil)

	// Accounts, API tokens, the audit log.
	var acct struct {
		ID int64 `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/accounts", path: "/api/v1/accounts",
		body: map[string]any{"email": "ops@example.com", "name": "运营", "role": "operator", "password": "openapi-sample-Passw0rd-long"}}, &acct)
	s.want(400, req{op: "POST /api/v1/accounts", path: "/api/v1/accounts", body: map[string]any{"email": "x@example.com", "role": "operator", "password": "short"}}, nil)
	s.want(200, req{op: "GET /api/v1/accounts", path: "/api/v1/accounts"}, nil)
	ap := fmt.Sprintf("/api/v1/accounts/%d", acct.ID)
	s.want(200, req{op: "GET /api/v1/accounts/{id}", path: ap}, nil)
	s.want(200, req{op: "PATCH /api/v1/accounts/{id}", path: ap, body: map[string]any{"name": "运营一", "disabled": false}}, nil)
	var apiTok struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	s.want(201, req{op: "POST /api/v1/api-tokens", path: "/api/v1/api-tokens", body: map[string]any{"name": "ci", "role": "viewer"}}, &apiTok)
	s.want(200, req{op: "GET /api/v1/platforms", path: "/api/v1/platforms", token: apiTok.Token}, nil)
	s.want(403, req{op: "POST /api/v1/authorization-links", path: "/api/v1/authorization-links", token: apiTok.Token}, nil) // a viewer
	s.want(200, req{op: "GET /api/v1/api-tokens", path: "/api/v1/api-tokens?all=1"}, nil)
	s.want(204, req{op: "DELETE /api/v1/api-tokens/{id}", path: fmt.Sprintf("/api/v1/api-tokens/%d", apiTok.ID)}, nil)
	s.want(200, req{op: "GET /api/v1/audit-log", path: "/api/v1/audit-log"}, nil)
	s.want(200, req{op: "GET /api/v1/audit-log", path: "/api/v1/audit-log?action=rollout.&limit=2"}, nil)

	featureSamples(t, s, apps, draft.DraftID, tmpl.TemplateID)

	// The runtime API, as a mini program calls it.
	code := d.loginCode(a1, nil)
	var sess struct {
		Token string `json:"token"`
	}
	s.want(200, req{op: "POST /runtime/v1/login", path: "/runtime/v1/login", noToken: true, body: map[string]any{"appid": a1, "code": code.Code}}, &sess)
	s.want(401, req{op: "POST /runtime/v1/login", path: "/runtime/v1/login", noToken: true, body: map[string]any{"appid": a1, "code": code.Code}}, nil) // a used code
	st, _ := s.send(req{op: "GET /runtime/v1/config", path: "/runtime/v1/config", token: sess.Token})
	if st != 200 {
		t.Fatalf("runtime config: %d", st)
	}
	hr, _ := http.NewRequest("GET", d.Platform.URL()+"/runtime/v1/config", nil)
	hr.Header.Set("Authorization", "Bearer "+sess.Token)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.want(304, req{op: "GET /runtime/v1/config", path: "/runtime/v1/config", token: sess.Token, header: map[string]string{"If-None-Match": resp.Header.Get("ETag")}}, nil)
	s.want(200, req{op: "GET /runtime/v1/me", path: "/runtime/v1/me", token: sess.Token}, nil)
	s.want(204, req{op: "POST /runtime/v1/logout", path: "/runtime/v1/logout", token: sess.Token}, nil)
	s.want(401, req{op: "GET /runtime/v1/me", path: "/runtime/v1/me", token: sess.Token}, nil)

	doc.RequireSamples(t)
}

// featureSamples drives the feature routes (webhooks, messaging, cards and
// Wi-Fi, pay, fleet actions, template policy, testers, hold) into their
// answers, each exchange validated against the description.
func featureSamples(t *testing.T, s *sampler, apps []sbApp, draftID, tmplID int64) {
	d := s.d
	a1, a2, a3, a4 := apps[0].AppID, apps[1].AppID, apps[2].AppID, apps[3].AppID

	// Webhooks: an ISV receiver that takes every event.
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	var hook struct {
		ID string `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/webhooks", path: "/api/v1/webhooks", body: map[string]any{"url": rcv.URL + "/hook", "events": []string{"*"}, "description": "openapi"}}, &hook)
	var spareHook struct {
		ID string `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/webhooks", path: "/api/v1/webhooks", body: map[string]any{"url": rcv.URL + "/spare", "events": []string{"audit.success", "release.done"}}}, &spareHook)
	s.want(400, req{op: "POST /api/v1/webhooks", path: "/api/v1/webhooks", body: map[string]any{"url": "https://u:p@example.com/", "events": []string{"*"}}}, nil)
	s.want(400, req{op: "POST /api/v1/webhooks", path: "/api/v1/webhooks", body: map[string]any{"url": "https://example.com/", "events": []string{"nope"}}, bad: true}, nil)
	s.want(200, req{op: "GET /api/v1/webhooks", path: "/api/v1/webhooks"}, nil)
	var hooks struct {
		NextCursor *string `json:"next_cursor"`
	}
	s.want(200, req{op: "GET /api/v1/webhooks", path: "/api/v1/webhooks?limit=1"}, &hooks)
	if hooks.NextCursor == nil {
		t.Fatal("a page of one webhook of two has no next_cursor")
	}
	s.want(200, req{op: "GET /api/v1/webhooks", path: "/api/v1/webhooks?limit=1&cursor=" + *hooks.NextCursor}, nil)
	hp := "/api/v1/webhooks/" + hook.ID
	s.want(200, req{op: "GET /api/v1/webhooks/{id}", path: hp}, nil)
	s.want(404, req{op: "GET /api/v1/webhooks/{id}", path: "/api/v1/webhooks/wh_0"}, nil)
	s.want(200, req{op: "PATCH /api/v1/webhooks/{id}", path: hp, body: map[string]any{"description": "openapi, edited", "disabled": false}}, nil)
	s.want(400, req{op: "PATCH /api/v1/webhooks/{id}", path: hp, body: map[string]any{"url": "ftp://example.com/"}}, nil)
	s.want(200, req{op: "POST /api/v1/webhooks/{id}/rotate-secret", path: hp + "/rotate-secret"}, nil)
	s.want(204, req{op: "DELETE /api/v1/webhooks/{id}", path: "/api/v1/webhooks/" + spareHook.ID}, nil)
	s.want(404, req{op: "DELETE /api/v1/webhooks/{id}", path: "/api/v1/webhooks/" + spareHook.ID}, nil)

	// Customer service: a user writes to a1; the platform answers.
	var user struct {
		OpenID string `json:"openid"`
		Status int    `json:"status"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+a1+"/user-message", map[string]any{"msgtype": "text", "content": "请问今天营业吗？"}, &user)
	if user.Status != 200 || user.OpenID == "" {
		t.Fatalf("user message: %+v", user)
	}
	cp := "/api/v1/authorizers/" + a1 + "/conversations/" + user.OpenID
	d.eventually("the conversation", func() bool { return d.api("GET", cp, nil, nil) == 200 })
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/conversations/{openid}", path: cp}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/conversations/{openid}", path: cp + "?limit=1&before=999999999"}, nil)
	s.want(400, req{op: "GET /api/v1/authorizers/{appid}/conversations/{openid}", path: cp + "?before=x", bad: true}, nil)
	s.want(404, req{op: "GET /api/v1/authorizers/{appid}/conversations/{openid}", path: "/api/v1/authorizers/" + a1 + "/conversations/oNOBODY"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/conversations", path: "/api/v1/authorizers/" + a1 + "/conversations"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/conversations", path: "/api/v1/authorizers/" + a1 + "/conversations?limit=1"}, nil)
	s.want(404, req{op: "GET /api/v1/authorizers/{appid}/conversations", path: "/api/v1/authorizers/wxnosuchapp/conversations"}, nil)
	s.want(200, req{op: "POST /api/v1/authorizers/{appid}/conversations/{openid}/typing", path: cp + "/typing", body: map[string]any{"command": "Typing"}}, nil)
	s.want(409, req{op: "POST /api/v1/authorizers/{appid}/conversations/{openid}/typing", path: cp + "/typing", body: map[string]any{"command": "Typing"}}, nil) // already typing: WeChat's 45081
	s.want(200, req{op: "POST /api/v1/authorizers/{appid}/conversations/{openid}/typing", path: cp + "/typing", body: map[string]any{"command": "CancelTyping"}}, nil)
	s.want(200, req{op: "POST /api/v1/authorizers/{appid}/conversations/{openid}/typing", path: cp + "/typing"}, nil) // no body: Typing
	s.want(400, req{op: "POST /api/v1/authorizers/{appid}/conversations/{openid}/typing", path: cp + "/typing", body: map[string]any{"command": "Dance"}, bad: true}, nil)
	s.want(200, req{op: "POST /api/v1/authorizers/{appid}/conversations/{openid}/messages", path: cp + "/messages",
		body: map[string]any{"msgtype": "text", "text": map[string]string{"content": "营业的，九点到九点"}}}, nil)
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
	s.want(200, req{op: "POST /api/v1/authorizers/{appid}/conversations/{openid}/messages", path: cp + "/messages",
		body: map[string]any{"msgtype": "image", "image": map[string]any{"data": png, "filename": "menu.png"}}}, nil)
	s.want(409, req{op: "POST /api/v1/authorizers/{appid}/conversations/{openid}/messages", path: "/api/v1/authorizers/" + a1 + "/conversations/oNOBODY/messages",
		body: map[string]any{"msgtype": "text", "text": map[string]string{"content": "hi"}}}, nil)

	// Subscribe messages: the library, a template, a send refused then allowed.
	ap := "/api/v1/authorizers/" + a1
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/subscribe-library", path: ap + "/subscribe-library?category=616"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/subscribe-library", path: ap + "/subscribe-library?category=616&start=0&limit=5"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/subscribe-library", path: ap + "/subscribe-library?tid=1001"}, nil)
	s.want(400, req{op: "GET /api/v1/authorizers/{appid}/subscribe-library", path: ap + "/subscribe-library?category=x", bad: true}, nil)
	var stpl struct {
		TemplateID string `json:"template_id"`
	}
	s.want(201, req{op: "POST /api/v1/authorizers/{appid}/subscribe-templates", path: ap + "/subscribe-templates",
		body: map[string]any{"tid": 1001, "kid_list": []int{1, 2, 3}, "scene_desc": "外卖"}}, &stpl)
	s.want(409, req{op: "POST /api/v1/authorizers/{appid}/subscribe-templates", path: ap + "/subscribe-templates",
		body: map[string]any{"tid": 1001, "kid_list": []int{1, 99}}}, nil)
	s.want(400, req{op: "POST /api/v1/authorizers/{appid}/subscribe-templates", path: ap + "/subscribe-templates",
		body: map[string]any{"tid": 1001, "kid_list": []int{1}}, bad: true}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/subscribe-templates", path: ap + "/subscribe-templates"}, nil)
	msg := map[string]any{"openid": user.OpenID, "template_id": stpl.TemplateID,
		"data": map[string]any{"thing1": "宫保鸡丁", "character_string2": "20261203001", "time3": map[string]string{"value": "2026-12-03 12:30"}}}
	s.want(403, req{op: "POST /api/v1/authorizers/{appid}/subscribe-messages", path: ap + "/subscribe-messages", body: msg}, nil)
	d.sandbox("POST", "/sandbox/api/apps/"+a1+"/subscribe", map[string]any{"openid": user.OpenID, "template_ids": []string{stpl.TemplateID}, "accept": true}, nil)
	d.eventually("the consent", func() bool {
		var c struct {
			Consents []struct {
				Remaining int `json:"remaining"`
			} `json:"subscribe_consents"`
		}
		d.api("GET", cp, nil, &c)
		return len(c.Consents) == 1 && c.Consents[0].Remaining == 1
	})
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/conversations/{openid}", path: cp}, nil) // with its consent
	s.want(200, req{op: "POST /api/v1/authorizers/{appid}/subscribe-messages", path: ap + "/subscribe-messages", body: msg}, nil)
	s.want(400, req{op: "POST /api/v1/authorizers/{appid}/subscribe-messages", path: ap + "/subscribe-messages", body: map[string]any{"openid": user.OpenID}, bad: true}, nil)
	var apply struct {
		ID     int64          `json:"id"`
		Counts map[string]int `json:"counts"`
	}
	s.want(202, req{op: "POST /api/v1/subscribe-templates/apply", path: "/api/v1/subscribe-templates/apply",
		body: map[string]any{"tid": 3001, "kid_list": []int{1, 2, 4}, "scene_desc": "会员", "appids": []string{a2, a3}}}, &apply)
	applyPath := fmt.Sprintf("/api/v1/subscribe-templates/apply/%d", apply.ID)
	d.eventually("the fleet-wide apply", func() bool {
		d.api("GET", applyPath, nil, &apply)
		return apply.Counts["added"] == 2
	})
	s.want(200, req{op: "GET /api/v1/subscribe-templates/apply/{id}", path: applyPath}, nil)
	s.want(404, req{op: "GET /api/v1/subscribe-templates/apply/{id}", path: "/api/v1/subscribe-templates/apply/999999"}, nil)

	// Cards and Wi-Fi of the official account.
	oa := d.authorizeOA()
	cards := "/api/v1/authorizers/" + oa + "/cards"
	s.want(400, req{op: "POST /api/v1/authorizers/{appid}/cards", path: cards, body: map[string]any{"card": couponCard("一二三四五六七八九十", "x")}}, nil)
	var card struct {
		CardID       string `json:"card_id"`
		ReviewStatus string `json:"review_status"`
		Issued       int    `json:"issued"`
	}
	s.want(201, req{op: "POST /api/v1/authorizers/{appid}/cards", path: cards, body: map[string]any{"card": couponCard("满100减20", "不与其他优惠同享")}}, &card)
	cardPath := cards + "/" + card.CardID
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/cards/{card_id}", path: cardPath}, nil) // under review
	d.sandbox("POST", "/sandbox/api/clock", map[string]string{"advance": "10s"}, nil)
	d.eventually("the card approved", func() bool {
		d.api("GET", cardPath, nil, &card)
		return card.ReviewStatus == "approved"
	})
	var got struct {
		Code string `json:"code"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/"+oa+"/cards/"+card.CardID+"/receive", map[string]string{"openid": "oDemoUser1"}, &got); st != 200 || got.Code == "" {
		t.Fatalf("receive: HTTP %d %+v", st, got)
	}
	d.eventually("the card issued", func() bool {
		d.api("GET", cardPath, nil, &card)
		return card.Issued == 1
	})
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/cards/{card_id}", path: cardPath}, nil)
	s.want(404, req{op: "GET /api/v1/authorizers/{appid}/cards/{card_id}", path: cards + "/pNOSUCHCARD"}, nil)
	s.want(200, req{op: "POST /api/v1/authorizers/{appid}/cards/{card_id}/consume", path: cardPath + "/consume", body: map[string]string{"code": got.Code}}, nil)
	s.want(409, req{op: "POST /api/v1/authorizers/{appid}/cards/{card_id}/consume", path: cardPath + "/consume", body: map[string]string{"code": got.Code}}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/cards", path: cards}, nil)
	var shop struct {
		ShopID int64 `json:"shop_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/"+oa+"/wifi/shops", map[string]string{"shop_name": "断桥店"}, &shop); st != 200 {
		t.Fatalf("add shop: HTTP %d", st)
	}
	wifi := "/api/v1/authorizers/" + oa + "/wifi/shops"
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/wifi/shops", path: wifi}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/wifi/shops", path: wifi + "?page=1&size=10"}, nil)
	s.want(400, req{op: "GET /api/v1/authorizers/{appid}/wifi/shops", path: wifi + "?page=x", bad: true}, nil)
	sp := wifi + "/" + strconv.FormatInt(shop.ShopID, 10)
	s.want(400, req{op: "POST /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/devices", path: sp + "/devices", body: map[string]string{"ssid": "Lakeside", "password": "12345678"}}, nil)
	s.want(201, req{op: "POST /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/devices", path: sp + "/devices", body: map[string]string{"ssid": "WX-Lakeside", "password": "west-lake-8"}}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/qrcode", path: sp + "/qrcode"}, nil)
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/qrcode", path: sp + "/qrcode?format=json&img_id=1"}, nil)
	s.want(400, req{op: "GET /api/v1/authorizers/{appid}/wifi/shops/{shop_id}/qrcode", path: wifi + "/0/qrcode", bad: true}, nil)

	// WeChat Pay: onboarding a sub-merchant for a3, binding, an order from the runtime.
	s.want(200, req{op: "GET /api/v1/pay/merchant", path: "/api/v1/pay/merchant"}, nil)
	var appl struct {
		ID int64 `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/pay/applyments", path: "/api/v1/pay/applyments", body: map[string]any{"form": payForm("wxf_openapi_1"), "appid": a3}}, &appl)
	s.want(409, req{op: "POST /api/v1/pay/applyments", path: "/api/v1/pay/applyments", body: map[string]any{"form": payForm("wxf_openapi_1"), "appid": a3}}, nil)
	s.want(400, req{op: "POST /api/v1/pay/applyments", path: "/api/v1/pay/applyments", body: map[string]any{"appid": a3}, bad: true}, nil)
	applPath := fmt.Sprintf("/api/v1/pay/applyments/%d", appl.ID)
	s.want(200, req{op: "GET /api/v1/pay/applyments/{id}", path: applPath}, nil) // auditing
	d.decide("wxf_openapi_1", map[string]string{"result": "approve"})
	var done struct {
		SubMchID string `json:"sub_mchid"`
	}
	s.want(200, req{op: "GET /api/v1/pay/applyments/{id}", path: applPath}, &done)
	if done.SubMchID == "" {
		t.Fatal("an approved application has no sub_mchid")
	}
	s.want(404, req{op: "GET /api/v1/pay/applyments/{id}", path: "/api/v1/pay/applyments/999999"}, nil)
	s.want(400, req{op: "POST /api/v1/pay/sub-merchants", path: "/api/v1/pay/sub-merchants", body: map[string]string{"sub_mchid": done.SubMchID}, bad: true}, nil)
	s.want(200, req{op: "POST /api/v1/pay/sub-merchants", path: "/api/v1/pay/sub-merchants", body: map[string]string{"sub_mchid": done.SubMchID, "appid": a3}}, nil)
	if st := d.sandbox("POST", "/sandbox/api/pay/sub-merchants/"+done.SubMchID+"/appids", map[string]string{"appid": a3}, nil); st != 200 {
		t.Fatalf("sandbox bind: %d", st)
	}
	var sess struct {
		Token string `json:"token"`
	}
	payer := d.loginCode(a3, map[string]string{"openid": "oPAYUSER000000000000000001"})
	s.want(200, req{op: "POST /runtime/v1/login", path: "/runtime/v1/login", noToken: true, body: map[string]any{"appid": a3, "code": payer.Code}}, &sess)
	order := map[string]any{"description": "牛肉面", "amount": 1500, "out_trade_no": "wxf_openapi_0001"}
	s.want(200, req{op: "POST /runtime/v1/pay/orders", path: "/runtime/v1/pay/orders", token: sess.Token, body: order}, nil)
	s.want(200, req{op: "POST /runtime/v1/pay/orders", path: "/runtime/v1/pay/orders", token: sess.Token, body: order}, nil) // the same again
	s.want(200, req{op: "POST /runtime/v1/pay/orders", path: "/runtime/v1/pay/orders", token: sess.Token, body: map[string]any{"description": "拉面", "amount": 1200}}, nil)
	s.want(409, req{op: "POST /runtime/v1/pay/orders", path: "/runtime/v1/pay/orders", token: sess.Token, body: map[string]any{"description": "牛肉面", "amount": 999, "out_trade_no": "wxf_openapi_0001"}}, nil)
	s.want(400, req{op: "POST /runtime/v1/pay/orders", path: "/runtime/v1/pay/orders", token: sess.Token, body: map[string]any{"description": "牛肉面", "amount": 0}, bad: true}, nil)
	s.want(200, req{op: "GET /api/v1/pay/orders", path: "/api/v1/pay/orders"}, nil)
	s.want(200, req{op: "GET /api/v1/pay/orders", path: "/api/v1/pay/orders?appid=" + a3 + "&limit=1"}, nil)
	if st := d.sandbox("POST", "/sandbox/api/pay/orders/wxf_openapi_0001/pay", map[string]string{"sub_mchid": done.SubMchID}, nil); st != 200 {
		t.Fatalf("pay: %d", st)
	}
	d.eventually("the order paid", func() bool {
		var l struct {
			Items []struct {
				OutTradeNo string `json:"out_trade_no"`
				State      string `json:"state"`
			} `json:"items"`
		}
		d.api("GET", "/api/v1/pay/orders?appid="+a3, nil, &l)
		for _, o := range l.Items {
			if o.OutTradeNo == "wxf_openapi_0001" {
				return o.State == "SUCCESS"
			}
		}
		return false
	})
	s.want(200, req{op: "GET /api/v1/pay/orders", path: "/api/v1/pay/orders?appid=" + a3}, nil)                              // one paid
	s.want(409, req{op: "POST /runtime/v1/pay/orders", path: "/runtime/v1/pay/orders", token: sess.Token, body: order}, nil) // paid
	s.want(200, req{op: "GET /api/v1/pay/orders/{out_trade_no}", path: "/api/v1/pay/orders/wxf_openapi_0001"}, nil)
	s.want(200, req{op: "GET /api/v1/pay/orders/{out_trade_no}", path: "/api/v1/pay/orders/wxf_openapi_0001?refresh=true&sub_mchid=" + done.SubMchID}, nil)
	s.want(404, req{op: "GET /api/v1/pay/orders/{out_trade_no}", path: "/api/v1/pay/orders/wxf_openapi_none"}, nil)
	s.want(400, req{op: "GET /api/v1/pay/orders/{out_trade_no}", path: "/api/v1/pay/orders/wxf_openapi_0001?refresh=yes", bad: true}, nil)
	s.want(409, req{op: "POST /api/v1/pay/orders/{out_trade_no}/close", path: "/api/v1/pay/orders/wxf_openapi_0001/close"}, nil) // paid
	s.want(200, req{op: "POST /runtime/v1/pay/orders", path: "/runtime/v1/pay/orders", token: sess.Token,
		body: map[string]any{"description": "拉面", "amount": 1200, "out_trade_no": "wxf_openapi_0002"}}, nil)
	s.want(200, req{op: "POST /api/v1/pay/orders/{out_trade_no}/close", path: "/api/v1/pay/orders/wxf_openapi_0002/close"}, nil)
	s.want(404, req{op: "POST /api/v1/pay/orders/{out_trade_no}/close", path: "/api/v1/pay/orders/wxf_openapi_none/close"}, nil)
	s.want(201, req{op: "POST /api/v1/pay/orders/{out_trade_no}/refunds", path: "/api/v1/pay/orders/wxf_openapi_0001/refunds",
		body: map[string]any{"amount": 500, "reason": "少了一份卤蛋"}}, nil)
	s.want(400, req{op: "POST /api/v1/pay/orders/{out_trade_no}/refunds", path: "/api/v1/pay/orders/wxf_openapi_0001/refunds",
		body: map[string]any{"amount": 0}, bad: true}, nil)
	s.want(409, req{op: "POST /api/v1/pay/orders/{out_trade_no}/refunds", path: "/api/v1/pay/orders/wxf_openapi_0002/refunds",
		body: map[string]any{"amount": 100}}, nil) // closed, never paid
	s.want(404, req{op: "POST /api/v1/pay/orders/{out_trade_no}/refunds", path: "/api/v1/pay/orders/wxf_openapi_none/refunds",
		body: map[string]any{"amount": 100}}, nil)
	s.want(200, req{op: "GET /api/v1/pay/orders/{out_trade_no}/refunds", path: "/api/v1/pay/orders/wxf_openapi_0001/refunds"}, nil)
	s.want(200, req{op: "GET /api/v1/pay/orders/{out_trade_no}/refunds", path: "/api/v1/pay/orders/wxf_openapi_0001/refunds?refresh=true"}, nil)
	s.want(404, req{op: "GET /api/v1/pay/orders/{out_trade_no}/refunds", path: "/api/v1/pay/orders/wxf_openapi_none/refunds"}, nil)

	// A template policy (on a template of its own: the rollouts above stay without one).
	var ptmpl struct {
		TemplateID int64 `json:"template_id"`
	}
	s.want(201, req{op: "POST /api/v1/templates", path: "/api/v1/templates", body: map[string]any{"draft_id": draftID, "notes": "policy"}}, &ptmpl)
	pol := fmt.Sprintf("/api/v1/templates/%d/policy", ptmpl.TemplateID)
	s.want(400, req{op: "PUT /api/v1/templates/{id}/policy", path: pol, body: map[string]any{"domains": map[string]any{"requestdomain": []string{"wss://api.shop.example"}}}}, nil)
	s.want(200, req{op: "PUT /api/v1/templates/{id}/policy", path: pol, body: map[string]any{
		"domains":       map[string]any{"requestdomain": []string{"https://api.shop.example"}, "wsrequestdomain": []string{"wss://ws.shop.example"}},
		"webviewdomain": []string{"https://h5.shop.example"},
		"privacy": map[string]any{"owner_setting": map[string]any{"contact_email": "privacy@shop.example", "notice_method": "弹窗提示"},
			"setting_list": []any{map[string]any{"privacy_key": "PhoneNumber", "privacy_text": "用于会员登录"}}},
	}}, nil)
	s.want(200, req{op: "GET /api/v1/templates/{id}", path: fmt.Sprintf("/api/v1/templates/%d", ptmpl.TemplateID)}, nil) // with its policy
	s.want(404, req{op: "PUT /api/v1/templates/{id}/policy", path: "/api/v1/templates/999999/policy", body: map[string]any{}}, nil)

	// Fleet actions: a tester bound on two apps.
	var fa struct {
		ID int64 `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/fleet-actions", path: "/api/v1/fleet-actions",
		body: map[string]any{"kind": "bind_tester", "wechatid": "tester_li", "targets": map[string]any{"appids": []string{a1, a2}}}}, &fa)
	s.want(400, req{op: "POST /api/v1/fleet-actions", path: "/api/v1/fleet-actions", body: map[string]any{"kind": "bind_tester", "targets": map[string]any{"all": true}}}, nil)
	fp := fmt.Sprintf("/api/v1/fleet-actions/%d", fa.ID)
	s.want(200, req{op: "GET /api/v1/fleet-actions/{id}", path: fp}, nil)
	d.eventually("the fleet action completed", func() bool {
		var a struct {
			Status string `json:"status"`
		}
		d.api("GET", fp, nil, &a)
		return a.Status == "completed"
	})
	s.want(200, req{op: "GET /api/v1/fleet-actions/{id}", path: fp}, nil)
	s.want(404, req{op: "GET /api/v1/fleet-actions/{id}", path: "/api/v1/fleet-actions/999999"}, nil)
	s.want(200, req{op: "GET /api/v1/fleet-actions", path: "/api/v1/fleet-actions"}, nil)
	s.want(200, req{op: "GET /api/v1/fleet-actions", path: "/api/v1/fleet-actions?limit=1"}, nil)
	s.want(400, req{op: "GET /api/v1/fleet-actions", path: "/api/v1/fleet-actions?cursor=x", bad: true}, nil)
	s.want(200, req{op: "GET /api/v1/fleet-actions/{id}/apps", path: fp + "/apps"}, nil)
	s.want(200, req{op: "GET /api/v1/fleet-actions/{id}/apps", path: fp + "/apps?state=done&limit=1"}, nil)
	s.want(404, req{op: "GET /api/v1/fleet-actions/{id}/apps", path: "/api/v1/fleet-actions/999999/apps"}, nil)
	var testers struct {
		UserStrs []string `json:"userstrs"`
	}
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/testers", path: "/api/v1/authorizers/" + a1 + "/testers"}, &testers)
	if len(testers.UserStrs) != 1 {
		t.Fatalf("testers of %s after bind_tester: %v", a1, testers.UserStrs)
	}
	s.want(200, req{op: "GET /api/v1/authorizers/{appid}/testers", path: "/api/v1/authorizers/" + a4 + "/testers"}, nil) // none
	s.want(404, req{op: "GET /api/v1/authorizers/{appid}/testers", path: "/api/v1/authorizers/wxnosuchapp/testers"}, nil)

	// A hold: WeChat suspends a4's submissions (86007); the rollout fails it; the hold is released.
	if st := d.sandbox("POST", "/sandbox/api/apps/"+a4+"/suspend", map[string]any{"suspended": true}, nil); st != 200 {
		t.Fatalf("suspend: %d", st)
	}
	if st := d.api("PUT", "/api/v1/authorizers/"+a4+"/settings", map[string]any{"shop": map[string]any{"name": "四号店"}}, nil); st != 200 {
		t.Fatalf("settings of %s: %d", a4, st)
	}
	var held struct {
		ID int64 `json:"id"`
	}
	s.want(201, req{op: "POST /api/v1/rollouts", path: "/api/v1/rollouts",
		body: map[string]any{"template_id": tmplID, "targets": map[string]any{"appids": []string{a4}}, "max_failure_ratio": 1}}, &held)
	if r := d.waitRollout(held.ID, "completed"); r.Counts["failed"] != 1 {
		t.Fatalf("the suspended app's rollout: %+v %+v", r, d.rolloutApps(held.ID, ""))
	}
	s.want(404, req{op: "DELETE /api/v1/authorizers/{appid}/hold", path: "/api/v1/authorizers/" + a1 + "/hold"}, nil)
	s.want(204, req{op: "DELETE /api/v1/authorizers/{appid}/hold", path: "/api/v1/authorizers/" + a4 + "/hold"}, nil)
	s.want(404, req{op: "DELETE /api/v1/authorizers/{appid}/hold", path: "/api/v1/authorizers/" + a4 + "/hold"}, nil)

	// The deliveries of everything above.
	dp := hp + "/deliveries"
	var dl struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
	}
	d.eventually("a webhook delivered", func() bool {
		d.api("GET", dp+"?status=delivered", nil, &dl)
		return len(dl.Items) > 0
	})
	s.want(200, req{op: "GET /api/v1/webhooks/{id}/deliveries", path: dp}, nil)
	s.want(200, req{op: "GET /api/v1/webhooks/{id}/deliveries", path: dp + "?status=delivered&limit=1"}, nil)
	s.want(400, req{op: "GET /api/v1/webhooks/{id}/deliveries", path: dp + "?status=lost", bad: true}, nil)
	s.want(404, req{op: "GET /api/v1/webhooks/{id}/deliveries", path: "/api/v1/webhooks/wh_0/deliveries"}, nil)
	s.want(200, req{op: "GET /api/v1/webhooks/dead-letters", path: "/api/v1/webhooks/dead-letters"}, nil)
	s.want(200, req{op: "GET /api/v1/webhooks/dead-letters", path: "/api/v1/webhooks/dead-letters?limit=10"}, nil)
	one := "/api/v1/webhook-deliveries/" + dl.Items[0].ID
	s.want(200, req{op: "GET /api/v1/webhook-deliveries/{id}", path: one}, nil)
	s.want(404, req{op: "GET /api/v1/webhook-deliveries/{id}", path: "/api/v1/webhook-deliveries/dlv_0"}, nil)
	s.want(202, req{op: "POST /api/v1/webhook-deliveries/{id}/redeliver", path: one + "/redeliver"}, nil)
	s.want(404, req{op: "POST /api/v1/webhook-deliveries/{id}/redeliver", path: "/api/v1/webhook-deliveries/dlv_0/redeliver"}, nil)
}
