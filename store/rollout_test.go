package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

func testTemplates(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	list := []wxfleet.Template{
		{TemplateID: 1, DraftID: 10, UserVersion: "1.0.0", UserDesc: "首版", CreateTime: base},
		{TemplateID: 2, DraftID: 11, UserVersion: "1.1.0", UserDesc: "修复", CreateTime: base.Add(time.Hour), TemplateType: 1},
	}
	must(t, h.SyncTemplates(h.ctx, "wxA", list, base))
	must(t, h.SetTemplateDetails(h.ctx, "wxA", 1, `{"ext":{"a":"${settings.a}"}}`, "第一版"))

	// A second sync keeps the platform's details and marks what vanished.
	list[0].UserDesc = "首版（改）"
	must(t, h.SyncTemplates(h.ctx, "wxA", list[:1], base.Add(time.Minute)))
	got, err := h.ListTemplates(h.ctx, "wxA")
	must(t, err)
	if len(got) != 1 || got[0].TemplateID != 1 || got[0].UserDesc != "首版（改）" || got[0].ExtJSON != `{"ext":{"a":"${settings.a}"}}` ||
		got[0].Notes != "第一版" || !got[0].SyncedAt.Equal(base.Add(time.Minute)) || !got[0].CreateTime.Equal(base) {
		t.Fatalf("ListTemplates = %+v", got)
	}
	gone, err := h.Template(h.ctx, "wxA", 2)
	must(t, err)
	if !gone.DeletedAt.Equal(base.Add(time.Minute)) || gone.TemplateType != 1 {
		t.Fatalf("template 2 = %+v", gone)
	}
	// It comes back if WeChat lists it again.
	must(t, h.SyncTemplates(h.ctx, "wxA", list, base.Add(2*time.Minute)))
	if back, _ := h.Template(h.ctx, "wxA", 2); !back.DeletedAt.IsZero() {
		t.Fatalf("template 2 still deleted: %+v", back)
	}
	must(t, h.MarkTemplateDeleted(h.ctx, "wxA", 2, base.Add(3*time.Minute)))

	// Tenant first: another platform sees none of it.
	if _, err := h.Template(h.ctx, "wxB", 1); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Fatalf("wxB sees wxA's template: %v", err)
	}
	wantCode(t, h.SetTemplateDetails(h.ctx, "wxB", 1, "{}", ""), wxfleet.ENOTFOUND)
	wantCode(t, h.SyncTemplates(h.ctx, "wxNone", list, base), wxfleet.ENOTFOUND)
}

func testAuthorizerSettingsAndTags(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	for _, app := range []string{"wx1", "wx2", "wx3"} {
		must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxA", app)))
	}
	s, err := h.AuthorizerSettings(h.ctx, "wxA", "wx1")
	must(t, err)
	if len(s) != 0 {
		t.Fatalf("settings of a new authorizer = %v", s)
	}
	want := map[string]any{"shop": map[string]any{"name": "张记"}, "n": float64(3)}
	must(t, h.SetAuthorizerSettings(h.ctx, "wxA", "wx1", want, base))
	s, err = h.AuthorizerSettings(h.ctx, "wxA", "wx1")
	must(t, err)
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("settings = %v, want %v", s, want)
	}
	wantCode(t, h.SetAuthorizerSettings(h.ctx, "wxA", "wxnope", want, base), wxfleet.ENOTFOUND)

	must(t, h.SetAuthorizerTags(h.ctx, "wxA", "wx1", []string{"华东", "vip", " vip "}))
	must(t, h.SetAuthorizerTags(h.ctx, "wxA", "wx2", []string{"vip"}))
	tags, err := h.AuthorizerTags(h.ctx, "wxA", "wx1")
	must(t, err)
	if !reflect.DeepEqual(tags, []string{"vip", "华东"}) {
		t.Fatalf("tags = %q", tags)
	}
	wantCode(t, h.SetAuthorizerTags(h.ctx, "wxA", "wx1", []string{""}), wxfleet.EINVALID)
	wantCode(t, h.SetAuthorizerTags(h.ctx, "wxA", "wxnope", []string{"a"}), wxfleet.ENOTFOUND)

	must(t, h.SetAuthorizerStatus(h.ctx, "wxA", "wx3", wxfleet.StatusRevoked, base))
	for _, tc := range []struct {
		targets wxfleet.RolloutTargets
		want    []string
	}{
		{wxfleet.RolloutTargets{All: true}, []string{"wx1", "wx2"}},
		{wxfleet.RolloutTargets{Tags: []string{"vip"}}, []string{"wx1", "wx2"}},
		{wxfleet.RolloutTargets{Tags: []string{"华东", "nobody"}}, []string{"wx1"}},
		{wxfleet.RolloutTargets{AppIDs: []string{"wx9", "wx1", "wx9"}}, []string{"wx1", "wx9"}},
	} {
		got, err := h.TargetAppIDs(h.ctx, "wxA", tc.targets)
		must(t, err)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("TargetAppIDs(%+v) = %q, want %q", tc.targets, got, tc.want)
		}
	}
}

func newRollout(batch int) *wxfleet.Rollout {
	return &wxfleet.Rollout{ComponentAppID: "wxA", TemplateID: 7, UserVersion: "2.0.0", UserDesc: "新版",
		Targets: wxfleet.RolloutTargets{All: true}, Release: wxfleet.ReleaseAuto, BatchSize: batch, MaxFailureRatio: 0.2,
		Status: wxfleet.RolloutPending, CreatedAt: base, UpdatedAt: base}
}

func testRollouts(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	apps := make([]string, 1203) // more than one INSERT batch
	for i := range apps {
		apps[i] = fmt.Sprintf("wx%05d", i)
	}
	r := newRollout(500)
	must(t, h.CreateRollout(h.ctx, r, apps, map[string]string{"wx00001": "未授权 / not authorized"}, nil))
	if r.ID == 0 {
		t.Fatal("no id")
	}
	got, err := h.Rollout(h.ctx, "wxA", r.ID)
	must(t, err)
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("Rollout =\n%+v\nwant\n%+v", got, r)
	}
	if _, err := h.Rollout(h.ctx, "wxB", r.ID); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Fatalf("wxB sees wxA's rollout: %v", err)
	}
	counts, err := h.RolloutCounts(h.ctx, r.ID)
	must(t, err)
	if counts[wxfleet.AppPending] != 1202 || counts[wxfleet.AppSkipped] != 1 {
		t.Fatalf("counts = %v", counts)
	}
	c2, err := h.CohortCounts(h.ctx, r.ID, 2)
	must(t, err)
	if c2[wxfleet.AppPending] != 203 {
		t.Fatalf("cohort 2 = %v", c2)
	}
	page, err := h.RolloutApps(h.ctx, "wxA", r.ID, storeRolloutFilter(-1, "", "wx00499", 3))
	must(t, err)
	if len(page) != 3 || page[0].AppID != "wx00500" || page[0].Cohort != 1 {
		t.Fatalf("page = %+v", page[0])
	}
	if other, _ := h.RolloutApps(h.ctx, "wxB", r.ID, storeRolloutFilter(-1, "", "", 10)); len(other) != 0 {
		t.Fatalf("wxB sees %d of wxA's rollout apps", len(other))
	}

	// An app moves only from the state its writer saw.
	a, err := h.RolloutApp(h.ctx, "wxA", r.ID, "wx00000")
	must(t, err)
	a.State, a.CommitSentAt, a.UpdatedAt = wxfleet.AppCommitted, base.Add(time.Second), base.Add(2*time.Second)
	ok, err := h.UpdateRolloutApp(h.ctx, "wxA", a, wxfleet.AppPending, nil)
	must(t, err)
	if !ok {
		t.Fatal("first update did not write")
	}
	ok, err = h.UpdateRolloutApp(h.ctx, "wxA", a, wxfleet.AppPending, nil)
	must(t, err)
	if ok {
		t.Fatal("a second update from pending wrote again")
	}
	back, err := h.RolloutApp(h.ctx, "wxA", r.ID, "wx00000")
	must(t, err)
	if !reflect.DeepEqual(back, a) {
		t.Fatalf("RolloutApp =\n%+v\nwant\n%+v", back, a)
	}

	// Then runs in the transaction: its failure undoes the update.
	a.State = wxfleet.AppAuditing
	a.AuditID = 99
	boom := errors.New("boom")
	_, err = h.UpdateRolloutApp(h.ctx, "wxA", a, wxfleet.AppCommitted, func(ctx context.Context, tx *sql.Tx) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if back, _ := h.RolloutApp(h.ctx, "wxA", r.ID, "wx00000"); back.State != wxfleet.AppCommitted {
		t.Fatalf("state after a failed then = %s", back.State)
	}
	ran := false
	ok, err = h.UpdateRolloutApp(h.ctx, "wxA", a, wxfleet.AppCommitted, func(ctx context.Context, tx *sql.Tx) error { ran = true; return nil })
	must(t, err)
	if !ok || !ran {
		t.Fatalf("update ok=%v then ran=%v", ok, ran)
	}
	aud, err := h.AuditingApps(h.ctx, "wxA", "wx00000")
	must(t, err)
	if len(aud) != 1 || aud[0].AuditID != 99 {
		t.Fatalf("AuditingApps = %+v", aud)
	}

	moved, err := h.SetRolloutStatus(h.ctx, "wxA", r.ID, []wxfleet.RolloutStatus{wxfleet.RolloutPending}, wxfleet.RolloutRunning, "", base, nil)
	must(t, err)
	if !moved {
		t.Fatal("pending → running did not move")
	}
	moved, err = h.SetRolloutStatus(h.ctx, "wxA", r.ID, []wxfleet.RolloutStatus{wxfleet.RolloutPending}, wxfleet.RolloutRunning, "", base, nil)
	must(t, err)
	if moved {
		t.Fatal("a second pending → running moved")
	}
	if _, err := h.SetRolloutStatus(h.ctx, "wxB", r.ID, []wxfleet.RolloutStatus{wxfleet.RolloutRunning}, wxfleet.RolloutPaused, "", base, nil); wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		t.Fatalf("wxB paused wxA's rollout: %v", err)
	}
	n, err := h.CancelRolloutApps(h.ctx, "wxA", r.ID, base)
	must(t, err)
	if n != 1202 { // all but the skipped one
		t.Fatalf("cancelled %d", n)
	}
	// Of two callers that saw cohort 0 finish, one starts cohort 1.
	ran = false
	moved, err = h.AdvanceCohort(h.ctx, "wxA", r.ID, 0, base, func(ctx context.Context, tx *sql.Tx) error { ran = true; return nil })
	must(t, err)
	again, err := h.AdvanceCohort(h.ctx, "wxA", r.ID, 0, base, nil)
	must(t, err)
	if !moved || !ran || again {
		t.Fatalf("AdvanceCohort: first moved=%v ran=%v, second moved=%v", moved, ran, again)
	}
	list, err := h.ListRollouts(h.ctx, "wxA", store.RolloutFilter{Limit: 10})
	must(t, err)
	if len(list) != 1 || list[0].Status != wxfleet.RolloutRunning || list[0].Cohort != 1 {
		t.Fatalf("ListRollouts = %+v", *list[0])
	}

	// One app's history across two rollouts, newest first, this platform's only.
	r2 := newRollout(10)
	r2.UserVersion = "2.1.0"
	r2.TemplateID = 8
	must(t, h.CreateRollout(h.ctx, r2, []string{"wx00000"}, nil, nil))
	// The list's filters and cursor.
	for _, c := range []struct {
		f    store.RolloutFilter
		want []int64
	}{
		{store.RolloutFilter{Limit: 10}, []int64{r2.ID, r.ID}},
		{store.RolloutFilter{Status: wxfleet.RolloutRunning, Limit: 10}, []int64{r.ID}},
		{store.RolloutFilter{Status: wxfleet.RolloutPending, Limit: 10}, []int64{r2.ID}},
		{store.RolloutFilter{Status: wxfleet.RolloutCompleted, Limit: 10}, nil},
		{store.RolloutFilter{TemplateID: 7, Limit: 10}, []int64{r.ID}},
		{store.RolloutFilter{Before: r2.ID, Limit: 10}, []int64{r.ID}},
		{store.RolloutFilter{Limit: 1}, []int64{r2.ID}},
	} {
		list, err := h.ListRollouts(h.ctx, "wxA", c.f)
		must(t, err)
		var got []int64
		for _, ro := range list {
			got = append(got, ro.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("ListRollouts(%+v) = %v, want %v", c.f, got, c.want)
		}
	}
	if list, _ := h.ListRollouts(h.ctx, "wxB", store.RolloutFilter{Limit: 10}); len(list) != 0 {
		t.Errorf("wxB lists wxA's rollouts: %d", len(list))
	}
	hist, err := h.AppVersions(h.ctx, "wxA", "wx00000", 10)
	must(t, err)
	if len(hist) != 2 || hist[0].RolloutID != r2.ID || hist[0].UserVersion != "2.1.0" || hist[0].App.State != wxfleet.AppPending ||
		hist[1].RolloutID != r.ID || hist[1].App.State != wxfleet.AppCancelled || hist[1].App.AuditID != 99 {
		t.Fatalf("AppVersions = %+v", hist)
	}
	if other, _ := h.AppVersions(h.ctx, "wxB", "wx00000", 10); len(other) != 0 {
		t.Fatalf("wxB sees wxA's history: %+v", other)
	}
}

func storeRolloutFilter(cohort int, state wxfleet.AppState, cursor string, limit int) store.RolloutAppFilter {
	return store.RolloutAppFilter{Cohort: cohort, State: state, Cursor: cursor, Limit: limit}
}

// Slots are handed out interval apart, across stores on one database, and
// none is reserved beyond maxAhead.
func testReserveSlot(t *testing.T, h *harness) {
	other := h.reopen(t, h.vault)
	iv := 100 * time.Millisecond
	var got []time.Time
	for i := 0; i < 6; i++ {
		s := h.Store
		if i%2 == 1 {
			s = other
		}
		at, ok, err := s.ReserveSlot(h.ctx, "wechat", iv, base, time.Second)
		must(t, err)
		if !ok {
			t.Fatalf("slot %d refused", i)
		}
		got = append(got, at)
	}
	for i, at := range got {
		if want := base.Add(time.Duration(i) * iv); !at.Equal(want) {
			t.Fatalf("slot %d at %v, want %v", i, at, want)
		}
	}
	// 600 ms ahead is within a second; with 0 ahead allowed it is refused.
	if _, ok, err := h.ReserveSlot(h.ctx, "wechat", iv, base, 0); err != nil || ok {
		t.Fatalf("a slot 600 ms ahead was reserved with maxAhead 0: %v %v", ok, err)
	}
	// Time passing frees the budget: a caller after a quiet spell goes at once.
	later := base.Add(time.Minute)
	if at, ok, err := h.ReserveSlot(h.ctx, "wechat", iv, later, 0); err != nil || !ok || !at.Equal(later) {
		t.Fatalf("after a minute: %v %v %v", at, ok, err)
	}
	// Budgets are separate.
	if at, ok, _ := h.ReserveSlot(h.ctx, "/wxa/commit", iv, base, 0); !ok || !at.Equal(base) {
		t.Fatalf("another budget: %v %v", at, ok)
	}
}
