package store_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
)

func testTemplatePolicy(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	must(t, h.SyncTemplates(h.ctx, "wxA", []wxfleet.Template{{TemplateID: 1}, {TemplateID: 2}, {TemplateID: 3}}, base))
	if _, err := h.PolicyTemplate(h.ctx, "wxA"); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Fatalf("PolicyTemplate with none declared: %v", err)
	}
	web := []string{"https://h5.shop.example"}
	p := &wxfleet.TemplatePolicy{
		Domains:       &wxfleet.DomainPolicy{RequestDomain: []string{"https://api.shop.example"}, WSRequestDomain: []string{}},
		WebviewDomain: &web,
		Privacy: &wxfleet.PrivacyPolicy{OwnerSetting: wxfleet.PrivacyOwner{ContactEmail: "a@shop.example", NoticeMethod: "弹窗"},
			SettingList: []wxfleet.PrivacyItem{{PrivacyKey: "PhoneNumber", PrivacyText: "会员登录"}}},
	}
	must(t, h.SetTemplatePolicy(h.ctx, "wxA", 1, p))
	must(t, h.SetTemplatePolicy(h.ctx, "wxA", 2, p))
	got, err := h.Template(h.ctx, "wxA", 1)
	must(t, err)
	if !reflect.DeepEqual(got.Policy, p) {
		t.Fatalf("Policy = %+v, want %+v", got.Policy, p)
	}
	// The newest template declaring one is the authorization's; a deleted one is not.
	pt, err := h.PolicyTemplate(h.ctx, "wxA")
	must(t, err)
	if pt.TemplateID != 2 {
		t.Fatalf("PolicyTemplate = %d, want 2", pt.TemplateID)
	}
	must(t, h.MarkTemplateDeleted(h.ctx, "wxA", 2, base))
	if pt, _ := h.PolicyTemplate(h.ctx, "wxA"); pt == nil || pt.TemplateID != 1 {
		t.Fatalf("PolicyTemplate after deleting 2 = %+v", pt)
	}
	// An empty policy clears it.
	must(t, h.SetTemplatePolicy(h.ctx, "wxA", 1, &wxfleet.TemplatePolicy{}))
	if got, _ := h.Template(h.ctx, "wxA", 1); got.Policy != nil {
		t.Fatalf("cleared policy = %+v", got.Policy)
	}
	wantCode(t, h.SetTemplatePolicy(h.ctx, "wxB", 3, p), wxfleet.ENOTFOUND)
	if _, err := h.PolicyTemplate(h.ctx, "wxB"); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Fatalf("wxB sees wxA's policy template: %v", err)
	}
}

func testFleetActions(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	apps := make([]string, 620) // more than one INSERT batch
	for i := range apps {
		apps[i] = fmt.Sprintf("wx%04d", i)
	}
	a := &wxfleet.FleetAction{ComponentAppID: "wxA", Kind: wxfleet.ActionBindTester, WeChatID: "tester_li",
		Targets: wxfleet.RolloutTargets{All: true}, Status: wxfleet.FleetRunning, CreatedAt: base, UpdatedAt: base}
	must(t, h.CreateFleetAction(h.ctx, a, apps, map[string]string{"wx0001": "未授权"}, nil))
	got, err := h.FleetAction(h.ctx, "wxA", a.ID)
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("FleetAction = %+v, want %+v", got, a)
	}
	if _, err := h.FleetAction(h.ctx, "wxB", a.ID); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Fatalf("wxB sees wxA's action: %v", err)
	}
	c, err := h.FleetActionCounts(h.ctx, "wxA", a.ID)
	must(t, err)
	if c[wxfleet.FleetAppPending] != 619 || c[wxfleet.FleetAppSkipped] != 1 {
		t.Fatalf("counts = %v", c)
	}
	if c, _ := h.FleetActionCounts(h.ctx, "wxB", a.ID); len(c) != 0 {
		t.Fatalf("wxB counts wxA's apps: %v", c)
	}
	page, err := h.FleetActionApps(h.ctx, "wxA", a.ID, wxfleet.FleetAppPending, "wx0000", 2)
	must(t, err)
	if len(page) != 2 || page[0].AppID != "wx0002" || page[1].AppID != "wx0003" {
		t.Fatalf("page = %+v", page)
	}
	if done, err := h.CompleteFleetAction(h.ctx, "wxA", a.ID, base); err != nil || done {
		t.Fatalf("CompleteFleetAction with pending apps = %v, %v", done, err)
	}
	app, err := h.FleetActionApp(h.ctx, "wxA", a.ID, "wx0002")
	must(t, err)
	app.State, app.Result, app.UpdatedAt = wxfleet.FleetAppDone, "bound", base.Add(time.Second)
	if ok, err := h.UpdateFleetActionApp(h.ctx, "wxA", app, wxfleet.FleetAppPending); err != nil || !ok {
		t.Fatalf("UpdateFleetActionApp = %v, %v", ok, err)
	}
	// From a state it is no longer in: nothing written.
	if ok, err := h.UpdateFleetActionApp(h.ctx, "wxA", app, wxfleet.FleetAppPending); err != nil || ok {
		t.Fatalf("second UpdateFleetActionApp = %v, %v", ok, err)
	}
	if ok, _ := h.UpdateFleetActionApp(h.ctx, "wxB", app, wxfleet.FleetAppDone); ok {
		t.Fatal("wxB updated wxA's app")
	}
	for _, id := range apps {
		if x, _ := h.FleetActionApp(h.ctx, "wxA", a.ID, id); x != nil && x.State == wxfleet.FleetAppPending {
			x.State = wxfleet.FleetAppFailed
			if _, err := h.UpdateFleetActionApp(h.ctx, "wxA", x, wxfleet.FleetAppPending); err != nil {
				t.Fatal(err)
			}
		}
	}
	run, err := h.RunningFleetActions(h.ctx)
	must(t, err)
	if len(run) != 1 || run[0].ID != a.ID {
		t.Fatalf("RunningFleetActions = %+v", run)
	}
	if done, err := h.CompleteFleetAction(h.ctx, "wxA", a.ID, base); err != nil || !done {
		t.Fatalf("CompleteFleetAction = %v, %v", done, err)
	}
	list, err := h.ListFleetActions(h.ctx, "wxA", 0, 10)
	must(t, err)
	if len(list) != 1 || list[0].Status != wxfleet.FleetCompleted {
		t.Fatalf("ListFleetActions = %+v", list)
	}
	if l, _ := h.ListFleetActions(h.ctx, "wxB", 0, 10); len(l) != 0 {
		t.Fatalf("wxB lists wxA's actions: %+v", l)
	}
}

func testAppHolds(t *testing.T, h *harness) {
	h0, err := h.AppHoldOf(h.ctx, "wxA", "wx1")
	if err != nil || h0 != nil {
		t.Fatalf("AppHoldOf before = %+v, %v", h0, err)
	}
	must(t, h.HoldApp(h.ctx, "wxA", "wx1", 86007, "forbidden", base))
	must(t, h.HoldApp(h.ctx, "wxA", "wx1", 86007, "forbidden again", base.Add(time.Hour)))
	got, err := h.AppHoldOf(h.ctx, "wxA", "wx1")
	must(t, err)
	if got == nil || got.Errcode != 86007 || got.Reason != "forbidden again" || !got.HeldAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("AppHoldOf = %+v", got)
	}
	if other, _ := h.AppHoldOf(h.ctx, "wxB", "wx1"); other != nil {
		t.Fatalf("wxB sees wxA's hold: %+v", other)
	}
	if ok, err := h.ReleaseHold(h.ctx, "wxA", "wx1"); err != nil || !ok {
		t.Fatalf("ReleaseHold = %v, %v", ok, err)
	}
	if ok, _ := h.ReleaseHold(h.ctx, "wxA", "wx1"); ok {
		t.Fatal("ReleaseHold twice")
	}
}

func testGrayReleasedApps(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	released := base.Add(time.Hour)
	release := func(gray int, states map[string]wxfleet.AppState) int64 {
		r := newRollout(10)
		r.GrayPercentage = gray
		var ids []string
		for id := range states {
			ids = append(ids, id)
		}
		must(t, h.CreateRollout(h.ctx, r, ids, nil, nil))
		for id, st := range states {
			a, err := h.RolloutApp(h.ctx, "wxA", r.ID, id)
			must(t, err)
			a.State, a.UpdatedAt = st, released
			if _, err := h.UpdateRolloutApp(h.ctx, "wxA", a, wxfleet.AppPending, nil); err != nil {
				t.Fatal(err)
			}
		}
		return r.ID
	}
	release(0, map[string]wxfleet.AppState{"wx1": wxfleet.AppReleased, "wx2": wxfleet.AppReleased, "wx3": wxfleet.AppReleased})
	g := release(10, map[string]wxfleet.AppState{"wx1": wxfleet.AppReleased, "wx2": wxfleet.AppReleased, "wx3": wxfleet.AppRolledBack})
	release(0, map[string]wxfleet.AppState{"wx2": wxfleet.AppReleased, "wx4": wxfleet.AppFailed})
	all := []string{"wx1", "wx2", "wx3", "wx4", "wx5"}
	got, err := h.GrayReleasedApps(h.ctx, "wxA", all, released)
	must(t, err)
	if !reflect.DeepEqual(got, map[string]int64{"wx1": g}) {
		t.Fatalf("GrayReleasedApps = %v, want wx1 in rollout %d", got, g)
	}
	// A gray release from before since is over (WeChat released it fully).
	if o, err := h.GrayReleasedApps(h.ctx, "wxA", all, released.Add(time.Millisecond)); err != nil || len(o) != 0 {
		t.Fatalf("GrayReleasedApps since after the gray release = %v, %v", o, err)
	}
	if o, _ := h.GrayReleasedApps(h.ctx, "wxB", []string{"wx1"}, time.Time{}); len(o) != 0 {
		t.Fatalf("wxB sees wxA's gray releases: %v", o)
	}
}
