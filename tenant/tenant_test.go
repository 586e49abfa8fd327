package tenant_test

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/tenant"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// notices records what the service told, and checks it is told inside the
// transaction that records it.
type notices struct {
	mu   sync.Mutex
	list []tenant.Notice
}

func (n *notices) Notify(ctx context.Context, tx *sql.Tx, x tenant.Notice) error {
	if tx == nil {
		panic("Notify outside a transaction")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, x)
	return nil
}

func (n *notices) kinds() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, x := range n.list {
		k := x.Kind
		if w, ok := x.Data["window"]; ok {
			k += ":" + w.(string)
		}
		out = append(out, k)
	}
	return out
}

// noJobs stands in for River: the rollout's first steps are not worked here.
type noJobs struct{}

func (noJobs) InsertTx(context.Context, *sql.Tx, river.JobArgs, *river.InsertOpts) error { return nil }
func (noJobs) InsertManyTx(context.Context, *sql.Tx, []river.InsertManyParams) error     { return nil }
func (noJobs) InsertMany(context.Context, []river.InsertManyParams) error                { return nil }
func (noJobs) CancelTagged(context.Context, string) (int, error)                         { return 0, nil }

// noLinks refuses: these tests make no authorization links through WeChat.
type noLinks struct{ asked int64 }

func (l *noLinks) CreateLink(ctx context.Context, componentAppID string, req authorization.LinkRequest) (*authorization.Link, error) {
	l.asked = req.TenantID
	return &authorization.Link{ID: "link", TenantID: req.TenantID}, nil
}

const day = 24 * time.Hour

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestExpiryPolicy moves a fake clock through a term's last 30 days: the
// 30-, 7- and 1-day reminders are each recorded and told once, then the
// expiry, then — after the grace period and not before — the suspension;
// a rollout then skips the tenant's app and says why.
func TestExpiryPolicy(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st := b.New(t)
		ctx := t.Context()
		clk := &clock{now: start}
		told := &notices{}
		logger := slog.New(slog.DiscardHandler)
		svc := &tenant.Service{Store: st, Links: &noLinks{}, Notifier: told, Now: clk.Now, Logger: logger}
		staff := wxfleet.Scope{}

		p, err := svc.CreatePlan(ctx, staff, tenant.PlanRequest{Name: ptr("标准版"), YearlyPrice: ptr(int64(99900)), MaxMiniPrograms: ptr(5)})
		must(t, err)
		tn, err := svc.Create(ctx, staff, tenant.CreateRequest{Name: "Acme 咖啡", Tags: []string{"coffee"}})
		must(t, err)
		other, err := svc.Create(ctx, staff, tenant.CreateRequest{Name: "Other", Tags: []string{"coffee"}})
		must(t, err)
		expires := start.Add(40 * day)
		sub, err := svc.Subscribe(ctx, staff, tn.ID, tenant.SubscribeRequest{PlanID: p.ID, ExpiresAt: &expires})
		must(t, err)
		if !sub.ExpiresAt.Equal(expires) {
			t.Fatalf("subscription %+v", sub)
		}
		if got, _ := st.Tenant(ctx, staff, tn.ID); got.Status != wxfleet.TenantActive || got.PlanID != p.ID {
			t.Fatalf("after subscribing: %+v", got)
		}
		// The other tenant's term runs for years: it is never reminded.
		_, err = svc.Subscribe(ctx, staff, other.ID, tenant.SubscribeRequest{PlanID: p.ID, Years: 3})
		must(t, err)

		// One app for each tenant, both under the tag "coffee" through their tenant.
		must(t, st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomp", Name: "p", Token: "t", AESKey: wxfleet.Secret(strings.Repeat("k", 43)), Secret: "s"}))
		for app, tid := range map[string]int64{"wxacme": tn.ID, "wxother": other.ID} {
			must(t, st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: "wxcomp", AppID: app, Status: wxfleet.StatusAuthorized,
				Permissions: []int{18}, TenantID: tid, AuthorizedAt: start}))
		}
		must(t, st.SyncTemplates(ctx, "wxcomp", []wxfleet.Template{{TemplateID: 1, UserVersion: "1.0.0", UserDesc: "首版", CreateTime: start}}, start))

		steps := []struct {
			at   time.Time
			want []string // notices told by the check at this time, in order
		}{
			{start, nil},
			{expires.Add(-31 * day), nil},
			{expires.Add(-30 * day), []string{"subscription.expiring:30d"}},
			{expires.Add(-20 * day), nil}, // once
			{expires.Add(-7 * day), []string{"subscription.expiring:7d"}},
			{expires.Add(-6 * day), nil},
			{expires.Add(-23 * time.Hour), []string{"subscription.expiring:1d"}},
			{expires.Add(-time.Hour), nil},
			{expires, []string{"subscription.expired"}},
			{expires.Add(6 * day), nil}, // within the grace period
			{expires.Add(7*day + time.Minute), []string{"tenant.suspended"}},
			{expires.Add(8 * day), nil},
		}
		seen := 0
		for _, step := range steps {
			clk.set(step.at)
			_, err := svc.Check(ctx)
			must(t, err)
			got := told.kinds()[seen:]
			if strings.Join(got, ",") != strings.Join(step.want, ",") {
				t.Fatalf("at expiry%+v: told %v, want %v", step.at.Sub(expires), got, step.want)
			}
			seen += len(got)
			status := wxfleet.TenantActive
			if step.at.After(expires.Add(7 * day)) {
				status = wxfleet.TenantSuspended
			}
			if got, _ := st.Tenant(ctx, staff, tn.ID); got.Status != status {
				t.Fatalf("at expiry%+v: tenant is %s, want %s", step.at.Sub(expires), got.Status, status)
			}
		}
		rs, err := st.Reminders(ctx, staff, tn.ID)
		must(t, err)
		if len(rs) != 5 {
			t.Fatalf("reminders recorded: %+v", rs)
		}
		if len(told.list) != 5 || told.list[4].TenantID != tn.ID || told.list[2].Data["days_left"] != 1 {
			t.Fatalf("notices %+v", told.list)
		}
		if got, _ := st.Tenant(ctx, staff, other.ID); got.Status != wxfleet.TenantActive {
			t.Fatalf("the other tenant is %s", got.Status)
		}

		// A suspended tenant's app is skipped, visibly, in the dry run and in the rollout.
		ro := &rollout.Service{Store: st, Jobs: func() rollout.Jobs { return noJobs{} }, Now: clk.Now, Logger: logger}
		req := rollout.CreateRequest{TemplateID: 1, Targets: wxfleet.RolloutTargets{Tags: []string{"coffee"}}}
		plan, err := ro.DryRun(ctx, "wxcomp", req)
		must(t, err)
		if len(plan.Items) != 2 || plan.Skip != 1 || plan.Commit != 1 {
			t.Fatalf("dry run %+v", plan)
		}
		for _, it := range plan.Items {
			if it.AppID == "wxacme" && (it.Action != "skip" || !strings.Contains(it.Reason, "suspended")) {
				t.Fatalf("suspended tenant's app: %+v", it)
			}
			if it.AppID == "wxother" && it.Action != "commit" {
				t.Fatalf("active tenant's app: %+v", it)
			}
		}
		r, err := ro.Create(ctx, "wxcomp", req)
		must(t, err)
		app, err := st.RolloutApp(ctx, "wxcomp", r.ID, "wxacme")
		must(t, err)
		if app.State != wxfleet.AppSkipped || !strings.Contains(app.Reason, "suspended") {
			t.Fatalf("rollout app %+v", app)
		}
		skipped, err := st.RolloutApps(ctx, "wxcomp", r.ID, store.RolloutAppFilter{State: wxfleet.AppSkipped})
		must(t, err)
		if len(skipped) != 1 || skipped[0].AppID != "wxacme" {
			t.Fatalf("skipped list %+v", skipped)
		}

		// A suspended tenant gets no authorization link; renewing brings it back.
		_, err = svc.CreateLink(ctx, staff, tn.ID, "wxcomp", authorization.LinkRequest{})
		if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
			t.Fatalf("link for a suspended tenant: %v", err)
		}
		renewed, err := svc.Renew(ctx, staff, tn.ID, 1)
		must(t, err)
		if !renewed.ExpiresAt.Equal(clk.Now().AddDate(1, 0, 0)) {
			t.Fatalf("renewed from now: %+v", renewed)
		}
		if got, _ := st.Tenant(ctx, staff, tn.ID); got.Status != wxfleet.TenantActive {
			t.Fatalf("after renewal the tenant is %s", got.Status)
		}
		// The renewed term is reminded again when its time comes.
		clk.set(renewed.ExpiresAt.Add(-29 * day))
		_, err = svc.Check(ctx)
		must(t, err)
		if got := told.kinds()[seen:]; strings.Join(got, ",") != "subscription.expiring:30d" {
			t.Fatalf("renewed term told %v", got)
		}
	})
}

// TestPlanLimitRefusesLinks: a tenant at its plan's cap of mini programs
// gets no further authorization link, and the error says why.
func TestPlanLimitRefusesLinks(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		st := b.New(t)
		ctx := t.Context()
		links := &noLinks{}
		svc := &tenant.Service{Store: st, Links: links, Now: func() time.Time { return start }, Logger: slog.New(slog.DiscardHandler)}
		staff := wxfleet.Scope{}
		p, err := svc.CreatePlan(ctx, staff, tenant.PlanRequest{Name: ptr("单店版"), MaxMiniPrograms: ptr(1)})
		must(t, err)
		tn, err := svc.Create(ctx, staff, tenant.CreateRequest{Name: "Acme", PlanID: p.ID})
		must(t, err)
		l, err := svc.CreateLink(ctx, staff, tn.ID, "wxcomp", authorization.LinkRequest{})
		must(t, err)
		if links.asked != tn.ID || l.TenantID != tn.ID {
			t.Fatalf("link asked for tenant %d, want %d", links.asked, tn.ID)
		}
		must(t, st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomp", Name: "p", Token: "t", AESKey: wxfleet.Secret(strings.Repeat("k", 43)), Secret: "s"}))
		must(t, st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: "wxcomp", AppID: "wx1", Status: wxfleet.StatusAuthorized, TenantID: tn.ID}))
		_, err = svc.CreateLink(ctx, staff, tn.ID, "wxcomp", authorization.LinkRequest{})
		if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT || !strings.Contains(wxfleet.ErrorMessage(err), "upgrade the plan") {
			t.Fatalf("link over the cap: %v", err)
		}
		// Nor can an operator put another authorized app under it.
		must(t, st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: "wxcomp", AppID: "wx2", Status: wxfleet.StatusAuthorized}))
		_, err = svc.AssignApp(ctx, staff, "wxcomp", "wx2", tn.ID)
		if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
			t.Fatalf("assign over the cap: %v", err)
		}
		// A bigger plan lifts it.
		_, err = svc.UpdatePlan(ctx, staff, p.ID, tenant.PlanRequest{MaxMiniPrograms: ptr(2)})
		must(t, err)
		_, err = svc.CreateLink(ctx, staff, tn.ID, "wxcomp", authorization.LinkRequest{})
		must(t, err)
		a, err := svc.AssignApp(ctx, staff, "wxcomp", "wx2", tn.ID)
		must(t, err)
		if a.TenantID != tn.ID {
			t.Fatalf("assigned app's tenant %d", a.TenantID)
		}
		if a, err = svc.AssignApp(ctx, staff, "wxcomp", "wx2", 0); err != nil || a.TenantID != 0 {
			t.Fatalf("unassign: %+v %v", a, err)
		}
		// Another tenant's scope does not see this one.
		_, err = svc.CreateLink(ctx, wxfleet.Scope{TenantID: tn.ID + 1}, tn.ID, "wxcomp", authorization.LinkRequest{})
		if wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			t.Fatalf("link from another tenant's scope: %v", err)
		}
	})
}

func TestCheckSettings(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code string
	}{
		{`{"a":1, "b":{"c":[1,2]}}`, ""},
		{`{}`, ""},
		{`[]`, wxfleet.EINVALID},
		{`null`, wxfleet.EINVALID},
		{`"x"`, wxfleet.EINVALID},
		{`{"a":`, wxfleet.EINVALID},
		{`{"a":"` + strings.Repeat("x", tenant.MaxSettingsBytes) + `"}`, wxfleet.ETOOLARGE},
	} {
		out, err := tenant.CheckSettings([]byte(tc.in))
		if wxfleet.ErrorCode(err) != tc.code {
			t.Errorf("CheckSettings(%.40s) = %v, want code %q", tc.in, err, tc.code)
		}
		if err == nil && strings.Contains(string(out), " ") {
			t.Errorf("CheckSettings(%s) not compacted: %s", tc.in, out)
		}
	}
}

func ptr[T any](v T) *T { return &v }
