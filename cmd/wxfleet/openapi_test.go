package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
