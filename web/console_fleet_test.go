package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// fleetJobs records the jobs a fleet action enqueues: the web tests run no
// River client, so the apps stay pending until the test moves them.
type fleetJobs struct {
	mu   sync.Mutex
	args []rollout.FleetArgs
}

func (j *fleetJobs) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	return j.InsertMany(ctx, []river.InsertManyParams{{Args: args}})
}
func (j *fleetJobs) InsertManyTx(ctx context.Context, _ *sql.Tx, params []river.InsertManyParams) error {
	return j.InsertMany(ctx, params)
}
func (j *fleetJobs) InsertMany(_ context.Context, params []river.InsertManyParams) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, p := range params {
		if a, ok := p.Args.(rollout.FleetArgs); ok {
			j.args = append(j.args, a)
		}
	}
	return nil
}
func (j *fleetJobs) CancelTagged(context.Context, string) (int, error) { return 0, nil }

var fleetRowID = regexp.MustCompile(`<tr data-id="(\d+)">`)

// TestConsoleFleetActions: an operator binds a tester on two apps through
// the form (the action, its jobs and its page are the API's); a missing
// WeChat ID, an unknown template and no targets are refused with the
// reason and the input kept, nothing created; "all" asks first, saying how
// many apps, and creates only on the confirmed post; the list pages with a
// cursor; the action's page shows a failed app's errcode with a link to the
// app; a merchant and a post without the CSRF token are refused.
func TestConsoleFleetActions(t *testing.T) { storetest.Run(t, testConsoleFleetActions) }

func testConsoleFleetActions(t *testing.T, b storetest.Backend) {
	jobs := &fleetJobs{}
	ts := newTestServer(t, b, func(s *Server) {
		s.Rollouts = &rollout.Service{Store: s.Store, Now: time.Now, Logger: s.Logger, Jobs: func() rollout.Jobs { return jobs }}
	})
	ctx := context.Background()
	for _, id := range []string{"wxfleeta1", "wxfleeta2"} {
		if err := ts.st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: testPlatform, AppID: id, Nickname: id, Status: wxfleet.StatusAuthorized}); err != nil {
			t.Fatal(err)
		}
	}
	_, opsTok := ts.account("ops@isv.example", wxfleet.RoleOperator, 0)
	_, ops := ts.signIn("ops@isv.example", testPassword)
	post := func(session string, form url.Values) (int, string) {
		t.Helper()
		cookies, csrf := ts.page("/fleet-actions/new", session)
		form.Set("csrf", csrf)
		return ts.call("POST", "/fleet-actions", form.Encode(), "Cookie", cookies)
	}
	actions := func() []*wxfleet.FleetAction {
		t.Helper()
		as, err := ts.st.ListFleetActions(ctx, testPlatform, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		return as
	}

	// The template page's link fills the form in.
	if st, page := ts.call("GET", "/fleet-actions/new?kind=setup&template_id=42", nil, "Cookie", ops); st != http.StatusOK ||
		!strings.Contains(page, `value="setup" checked`) || !strings.Contains(page, `<option value="42" selected>`) {
		t.Errorf("new form with ?kind=setup&template_id=42: %d, want setup and template 42 chosen", st)
	}

	// Bind a tester on two apps.
	st, body := post(ops, url.Values{"kind": {"bind_tester"}, "wechatid": {"tester_wx"}, "target": {"appids"}, "appids": {"wxfleeta1\nwxfleeta2"}})
	if st != http.StatusSeeOther {
		t.Fatalf("create through the form: %d %s", st, body)
	}
	as := actions()
	if len(as) != 1 {
		t.Fatalf("%d fleet actions after the form, want 1", len(as))
	}
	id := itoa(as[0].ID)
	var got fleetActionJSON
	if st, body := ts.call("GET", "/api/v1/fleet-actions/"+id, nil, bearer(opsTok)...); st != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil {
		t.Fatalf("API read of the action: %d %s", st, body)
	}
	if got.Kind != wxfleet.ActionBindTester || got.WeChatID != "tester_wx" || strings.Join(got.Targets.AppIDs, ",") != "wxfleeta1,wxfleeta2" ||
		got.Counts.Total != 2 || got.Counts.Pending != 2 {
		t.Errorf("the action made by the form: %+v", got)
	}
	if len(jobs.args) != 2 {
		t.Errorf("%d jobs enqueued, want one per app", len(jobs.args))
	}
	if n := len(ts.audit(store.AuditFilter{Action: "fleet_action.create", Limit: 50})); n != 1 {
		t.Errorf("fleet_action.create recorded %d times, want 1", n)
	}
	_, page := ts.call("GET", "/fleet-actions/"+id+"?platform="+testPlatform, nil, "Cookie", ops)
	for _, want := range []string{"绑定体验者", "tester_wx", `<td data-k="pending">2</td>`, `<td data-k="total">2</td>`, `hx-trigger="every 3s"`, `data-appid="wxfleeta1"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the action's page lacks %q", want)
		}
	}
	if _, list := ts.call("GET", "/fleet-actions", nil, "Cookie", ops); !strings.Contains(list, `<tr data-id="`+id+`">`) || !strings.Contains(list, `<span data-k="pending">2</span>`) {
		t.Error("the list does not show the action with its counts")
	}

	// Bad inputs: the reason, the input kept, nothing created.
	for name, c := range map[string]struct {
		form url.Values
		kept []string
	}{
		"no wechatid":      {url.Values{"kind": {"bind_tester"}, "target": {"appids"}, "appids": {"wxfleeta1"}}, []string{">wxfleeta1</textarea>", `value="bind_tester" checked`}},
		"unknown template": {url.Values{"kind": {"setup"}, "template_id": {"999"}, "target": {"appids"}, "appids": {"wxfleeta2"}}, []string{">wxfleeta2</textarea>", `<option value="999" selected>`}},
		"no targets":       {url.Values{"kind": {"bind_tester"}, "wechatid": {"kept_wx"}, "target": {"appids"}}, []string{`value="kept_wx"`, `value="appids" checked`}},
	} {
		st, page := post(ops, c.form)
		if st != http.StatusBadRequest || !strings.Contains(page, `id="fleet-error"`) {
			t.Errorf("%s: %d, want 400 with the reason on the form", name, st)
		}
		for _, k := range c.kept {
			if !strings.Contains(page, k) {
				t.Errorf("%s: the input %q is not kept", name, k)
			}
		}
	}
	if n := len(actions()); n != 1 {
		t.Errorf("refused forms created actions: %d", n)
	}

	// "All" asks first, with the number of apps it touches.
	st, page = post(ops, url.Values{"kind": {"unbind_tester"}, "wechatid": {"gone_wx"}, "target": {"all"}})
	if st != http.StatusOK || !strings.Contains(page, `id="confirm-action"`) || !strings.Contains(page, "将影响 2 个小程序") {
		t.Fatalf("all without confirming: %d, want the confirmation page counting 2 apps", st)
	}
	if n := len(actions()); n != 1 {
		t.Fatal("an action was created before the confirmation")
	}
	action := regexp.MustCompile(`<form method="post" action="(/fleet-actions\?[^"]+)"`).FindStringSubmatch(page)
	if action == nil {
		t.Fatal("the confirmation page has no form posting the action back")
	}
	cookies, csrf := ts.page("/fleet-actions/new", ops)
	if st, body := ts.call("POST", html.UnescapeString(action[1]), url.Values{"csrf": {csrf}, "confirm": {"yes"}, "platform": {testPlatform}}.Encode(), "Cookie", cookies); st != http.StatusSeeOther {
		t.Fatalf("confirmed all: %d %s", st, body)
	}
	as = actions()
	if len(as) != 2 || !as[0].Targets.All || as[0].Kind != wxfleet.ActionUnbindTester || as[0].WeChatID != "gone_wx" {
		t.Fatalf("after the confirmed post: %d actions, newest %+v", len(as), as[0])
	}

	// The list, a page at a time, newest first.
	if _, err := ts.Rollouts.CreateFleetAction(ctx, testPlatform, rollout.FleetRequest{Kind: wxfleet.ActionBindTester, WeChatID: "third_wx",
		Targets: wxfleet.RolloutTargets{AppIDs: []string{"wxfleeta2"}}}); err != nil {
		t.Fatal(err)
	}
	as = actions()
	_, list := ts.call("GET", "/fleet-actions?limit=2", nil, "Cookie", ops)
	ids := fleetRowID.FindAllStringSubmatch(list, -1)
	next := regexp.MustCompile(`id="next-page" href="([^"]+)"`).FindStringSubmatch(list)
	if len(ids) != 2 || ids[0][1] != itoa(as[0].ID) || ids[1][1] != itoa(as[1].ID) || next == nil {
		t.Fatalf("first page: %v, next %v", ids, next)
	}
	_, list = ts.call("GET", html.UnescapeString(next[1]), nil, "Cookie", ops)
	ids = fleetRowID.FindAllStringSubmatch(list, -1)
	if len(ids) != 1 || ids[0][1] != id {
		t.Errorf("second page: %v, want only #%s", ids, id)
	}

	// A failed app on the action's page: its errcode, WeChat's message, a link.
	fail := &wxfleet.FleetActionApp{ActionID: as[2].ID, AppID: "wxfleeta2", State: wxfleet.FleetAppFailed, LastErrcode: 85001,
		LastError: "微信号不存在或微信号设置为不可搜索 / the WeChat ID does not exist or cannot be searched", Attempts: 1, UpdatedAt: time.Now()}
	if ok, err := ts.st.UpdateFleetActionApp(ctx, testPlatform, fail, wxfleet.FleetAppPending); err != nil || !ok {
		t.Fatalf("fail an app: %v %v", ok, err)
	}
	_, page = ts.call("GET", "/fleet-actions/"+id+"?platform="+testPlatform, nil, "Cookie", ops)
	for _, want := range []string{"errcode 85001", "微信号不存在", `href="/authorizers/wxfleeta2?platform=` + testPlatform + `"`, `<td data-k="failed">1</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the action's page (failed first) lacks %q", want)
		}
	}
	if strings.Contains(page, `data-appid="wxfleeta1"`) {
		t.Error("the failed filter lists the pending app")
	}
	_, page = ts.call("GET", "/fleet-actions/"+id+"?state=pending&limit=1", nil, "Cookie", ops)
	if !strings.Contains(page, `data-appid="wxfleeta1"`) || strings.Contains(page, `data-appid="wxfleeta2"`) {
		t.Error("the pending filter does not list just the pending app")
	}

	// A merchant is refused; so is a post without the CSRF token.
	tn := &wxfleet.Tenant{Name: "店", Status: wxfleet.TenantActive, CreatedAt: time.Now()}
	if err := ts.st.CreateTenant(ctx, wxfleet.Scope{}, tn); err != nil {
		t.Fatal(err)
	}
	ts.account("m@shop.example", wxfleet.RoleMerchant, tn.ID)
	_, merchant := ts.signIn("m@shop.example", testPassword)
	for _, p := range []string{"/fleet-actions", "/fleet-actions/new", "/fleet-actions/" + id} {
		if st, _ := ts.call("GET", p, nil, "Cookie", merchant); st != http.StatusForbidden {
			t.Errorf("merchant GET %s: %d, want 403", p, st)
		}
	}
	mc, mcsrf := ts.page("/tenants/"+itoa(tn.ID), merchant)
	form := url.Values{"csrf": {mcsrf}, "kind": {"bind_tester"}, "wechatid": {"m_wx"}, "target": {"appids"}, "appids": {"wxfleeta1"}}
	if st, _ := ts.call("POST", "/fleet-actions", form.Encode(), "Cookie", mc); st != http.StatusForbidden {
		t.Errorf("merchant POST /fleet-actions: %d, want 403", st)
	}
	cookies, _ = ts.page("/fleet-actions/new", ops)
	form.Del("csrf")
	if st, _ := ts.call("POST", "/fleet-actions", form.Encode(), "Cookie", cookies); st != http.StatusForbidden {
		t.Errorf("POST /fleet-actions without the CSRF token: %d, want 403", st)
	}
	if n := len(actions()); n != 3 {
		t.Errorf("%d actions after the refused posts, want 3", n)
	}
}
