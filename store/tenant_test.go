package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// The tenants suite runs like the conformance suite, on both databases; it
// has its own list so that it merges apart from the others.
var tenantSuite = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{"Plans", testPlans},
	{"Tenants", testTenants},
	{"TenantScope", testTenantScope},
	{"TenantAuthorizers", testTenantAuthorizers},
	{"Subscriptions", testSubscriptions},
	{"Reminders", testReminders},
	{"TargetsByTenantTag", testTargetsByTenantTag},
	{"Seed", testSeed},
}

func runTenantSuite(t *testing.T, b backend) {
	for _, tc := range tenantSuite {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newVault(t)
			s, raw := b.open(t, v)
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			tc.fn(t, &harness{Store: s, backend: b, vault: v, rawDSN: raw, ctx: t.Context()})
		})
	}
}

func TestTenantsSQLite(t *testing.T) { runTenantSuite(t, sqliteBackend) }

func TestTenantsPostgres(t *testing.T) {
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skip("WXFLEET_TEST_POSTGRES not set: skipping PostgreSQL tenant store tests")
	}
	runTenantSuite(t, postgresBackend(dsn))
}

var staff = wxfleet.Scope{}

func mustPlan(t testing.TB, h *harness, name string, max int) *wxfleet.Plan {
	t.Helper()
	p := &wxfleet.Plan{Name: name, YearlyPrice: 99900, MaxMiniPrograms: max, Features: []string{"runtime", "webhooks"}, CreatedAt: base, UpdatedAt: base}
	must(t, h.CreatePlan(h.ctx, staff, p))
	return p
}

func mustTenant(t testing.TB, h *harness, name string, planID int64, tags ...string) *wxfleet.Tenant {
	t.Helper()
	tn := &wxfleet.Tenant{Name: name, Contact: "13800000000", Status: wxfleet.TenantActive, PlanID: planID, Tags: tags, CreatedAt: base, UpdatedAt: base}
	must(t, h.CreateTenant(h.ctx, staff, tn))
	return tn
}

func testPlans(t *testing.T, h *harness) {
	p := mustPlan(t, h, "标准版", 3)
	got, err := h.Plan(h.ctx, p.ID)
	must(t, err)
	if !reflect.DeepEqual(got, p) {
		t.Fatalf("Plan = %+v, want %+v", got, p)
	}
	p.Name, p.YearlyPrice, p.MaxMiniPrograms, p.Features, p.UpdatedAt = "专业版", 199900, 10, nil, base.Add(time.Hour)
	must(t, h.UpdatePlan(h.ctx, staff, p))
	list, err := h.ListPlans(h.ctx)
	must(t, err)
	if len(list) != 1 || list[0].Name != "专业版" || list[0].YearlyPrice != 199900 || list[0].MaxMiniPrograms != 10 || len(list[0].Features) != 0 {
		t.Fatalf("ListPlans = %+v", list)
	}
	wantCode(t, h.UpdatePlan(h.ctx, staff, &wxfleet.Plan{ID: p.ID + 100, Name: "x"}), wxfleet.ENOTFOUND)
	wantCode(t, h.CreatePlan(h.ctx, staff, &wxfleet.Plan{Name: " "}), wxfleet.EINVALID)
	// A merchant makes no plans.
	wantCode(t, h.CreatePlan(h.ctx, wxfleet.Scope{TenantID: 1}, &wxfleet.Plan{Name: "mine"}), wxfleet.EFORBIDDEN)
	_, err = h.Plan(h.ctx, p.ID+100)
	wantCode(t, err, wxfleet.ENOTFOUND)
}

func testTenants(t *testing.T, h *harness) {
	p := mustPlan(t, h, "标准版", 3)
	a := mustTenant(t, h, "Acme 咖啡", p.ID, "vip", "north", "vip", " ")
	if a.ID == 0 || !reflect.DeepEqual(a.Tags, []string{"north", "vip"}) || string(a.Settings) != "{}" {
		t.Fatalf("created %+v", a)
	}
	got, err := h.Tenant(h.ctx, staff, a.ID)
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("Tenant = %+v, want %+v", got, a)
	}
	wantCode(t, h.CreateTenant(h.ctx, staff, &wxfleet.Tenant{Name: "x", Status: wxfleet.TenantActive, PlanID: p.ID + 50}), wxfleet.ENOTFOUND)
	wantCode(t, h.CreateTenant(h.ctx, staff, &wxfleet.Tenant{Name: "x", Status: "gone"}), wxfleet.EINVALID)

	// 25 more, to page through: every third a trial with tag "t3".
	for i := range 25 {
		tn := &wxfleet.Tenant{Name: fmt.Sprintf("商户 %02d", i), Status: wxfleet.TenantActive, CreatedAt: base, UpdatedAt: base}
		if i%3 == 0 {
			tn.Status, tn.Tags = wxfleet.TenantTrial, []string{"t3"}
		}
		must(t, h.CreateTenant(h.ctx, staff, tn))
	}
	var seen []int64
	var cursor int64
	for {
		page, err := h.ListTenants(h.ctx, staff, store.TenantFilter{Cursor: cursor, Limit: 10})
		must(t, err)
		for _, tn := range page {
			seen = append(seen, tn.ID)
		}
		if len(page) < 10 {
			break
		}
		cursor = page[len(page)-1].ID
	}
	if len(seen) != 26 {
		t.Fatalf("paged %d tenants, want 26", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("pages not in id order: %v", seen)
		}
	}
	trials, err := h.ListTenants(h.ctx, staff, store.TenantFilter{Status: wxfleet.TenantTrial})
	must(t, err)
	tagged, err := h.ListTenants(h.ctx, staff, store.TenantFilter{Tag: "t3"})
	must(t, err)
	if len(trials) != 9 || len(tagged) != 9 || !reflect.DeepEqual(tagged[0].Tags, []string{"t3"}) {
		t.Fatalf("trials %d, tagged %d (%+v)", len(trials), len(tagged), tagged[0])
	}
	found, err := h.ListTenants(h.ctx, staff, store.TenantFilter{Q: "acme"})
	must(t, err)
	if len(found) != 1 || found[0].ID != a.ID {
		t.Fatalf("q=acme found %+v", found)
	}
	// LIKE's wildcards are searched for literally.
	if none, _ := h.ListTenants(h.ctx, staff, store.TenantFilter{Q: "%"}); len(none) != 0 {
		t.Fatalf("q=%% matched %d tenants", len(none))
	}

	a.Name, a.Contact, a.Status, a.Tags, a.PlanID, a.UpdatedAt = "Acme 咖啡（总店）", "a@example.com", wxfleet.TenantSuspended, []string{"south"}, 0, base.Add(time.Minute)
	must(t, h.UpdateTenant(h.ctx, staff, a))
	got, err = h.Tenant(h.ctx, staff, a.ID)
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("after update %+v, want %+v", got, a)
	}
	wantCode(t, h.UpdateTenant(h.ctx, staff, &wxfleet.Tenant{ID: 9999, Name: "x", Status: wxfleet.TenantActive}), wxfleet.ENOTFOUND)

	must(t, h.SetTenantSettings(h.ctx, staff, a.ID, []byte(`{"theme":"dark","shop":{"id":7}}`), base))
	set, err := h.TenantSettings(h.ctx, staff, a.ID)
	must(t, err)
	if string(set) != `{"theme":"dark","shop":{"id":7}}` {
		t.Fatalf("settings %s", set)
	}
	wantCode(t, h.SetTenantSettings(h.ctx, staff, 9999, []byte(`{}`), base), wxfleet.ENOTFOUND)

	moved, err := h.SetTenantStatus(h.ctx, staff, a.ID, []wxfleet.TenantStatus{wxfleet.TenantActive}, wxfleet.TenantClosed, base, nil)
	must(t, err)
	if moved {
		t.Fatal("SetTenantStatus moved a suspended tenant from active")
	}
	moved, err = h.SetTenantStatus(h.ctx, staff, a.ID, nil, wxfleet.TenantActive, base, nil)
	must(t, err)
	if !moved {
		t.Fatal("SetTenantStatus did not move the tenant")
	}
}

// testTenantScope: a merchant's scope holds its own tenant and nothing else;
// another tenant is not found, whatever the method.
func testTenantScope(t *testing.T, h *harness) {
	mine := mustTenant(t, h, "mine", 0)
	other := mustTenant(t, h, "other", 0)
	sc := wxfleet.Scope{TenantID: mine.ID}
	if _, err := h.Tenant(h.ctx, sc, mine.ID); err != nil {
		t.Fatal(err)
	}
	_, err := h.Tenant(h.ctx, sc, other.ID)
	wantCode(t, err, wxfleet.ENOTFOUND)
	list, err := h.ListTenants(h.ctx, sc, store.TenantFilter{})
	must(t, err)
	if len(list) != 1 || list[0].ID != mine.ID {
		t.Fatalf("merchant lists %+v", list)
	}
	other.Name = "taken"
	wantCode(t, h.UpdateTenant(h.ctx, sc, other), wxfleet.ENOTFOUND)
	wantCode(t, h.SetTenantSettings(h.ctx, sc, other.ID, []byte(`{}`), base), wxfleet.ENOTFOUND)
	_, err = h.TenantSettings(h.ctx, sc, other.ID)
	wantCode(t, err, wxfleet.ENOTFOUND)
	_, err = h.TenantAuthorizers(h.ctx, sc, other.ID)
	wantCode(t, err, wxfleet.ENOTFOUND)
	_, err = h.Subscription(h.ctx, sc, other.ID)
	wantCode(t, err, wxfleet.ENOTFOUND)
	_, err = h.RenewSubscription(h.ctx, sc, other.ID, 1, base, nil)
	wantCode(t, err, wxfleet.ENOTFOUND)
	if moved, err := h.SetTenantStatus(h.ctx, sc, other.ID, nil, wxfleet.TenantClosed, base, nil); err != nil || moved {
		t.Fatalf("merchant moved another tenant: %v %v", moved, err)
	}
	wantCode(t, h.CreateTenant(h.ctx, sc, &wxfleet.Tenant{Name: "x", Status: wxfleet.TenantActive}), wxfleet.EFORBIDDEN)
	if got, _ := h.Tenant(h.ctx, staff, other.ID); got.Name != "other" || got.Status != wxfleet.TenantActive {
		t.Fatalf("other tenant changed: %+v", got)
	}
}

func testTenantAuthorizers(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	tn := mustTenant(t, h, "acme", 0)
	a := fullAuthorizer("wxA", "wxapp1")
	a.TenantID = tn.ID
	must(t, h.UpsertAuthorizer(h.ctx, a))
	got, err := h.Authorizer(h.ctx, "wxA", "wxapp1")
	must(t, err)
	if got.TenantID != tn.ID {
		t.Fatalf("TenantID = %d, want %d", got.TenantID, tn.ID)
	}
	// An upsert without a tenant (a re-authorization through a plain link) keeps it.
	got.TenantID = 0
	got.Nickname = "改名"
	must(t, h.UpsertAuthorizer(h.ctx, got))
	if again, _ := h.Authorizer(h.ctx, "wxA", "wxapp1"); again.TenantID != tn.ID || again.Nickname != "改名" {
		t.Fatalf("after upsert without tenant: %+v", again)
	}
	must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxB", "wxapp2")))
	must(t, h.SetAuthorizerTenant(h.ctx, staff, "wxB", "wxapp2", tn.ID))
	must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxA", "wxapp3")))
	wantCode(t, h.SetAuthorizerTenant(h.ctx, staff, "wxA", "wxnone", tn.ID), wxfleet.ENOTFOUND)
	wantCode(t, h.SetAuthorizerTenant(h.ctx, staff, "wxA", "wxapp3", 9999), wxfleet.ENOTFOUND)

	apps, err := h.TenantAuthorizers(h.ctx, staff, tn.ID)
	must(t, err)
	want := []store.TenantApp{{"wxA", "wxapp1", wxfleet.StatusAuthorized}, {"wxB", "wxapp2", wxfleet.StatusAuthorized}}
	if !reflect.DeepEqual(apps, want) {
		t.Fatalf("TenantAuthorizers = %+v, want %+v", apps, want)
	}
	list, _, err := h.ListAuthorizers(h.ctx, "wxA", store.AuthorizerFilter{TenantID: tn.ID})
	must(t, err)
	if len(list) != 1 || list[0].AppID != "wxapp1" {
		t.Fatalf("ListAuthorizers(tenant) = %+v", list)
	}

	// The plan's cap counts authorized apps and open links.
	must(t, h.SetAuthorizerStatus(h.ctx, "wxB", "wxapp2", wxfleet.StatusRevoked, base))
	link := &wxfleet.AuthLink{ComponentAppID: "wxA", PreAuthCode: "pre-1", TenantID: tn.ID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	must(t, h.CreateAuthLink(h.ctx, link))
	must(t, h.CreateAuthLink(h.ctx, &wxfleet.AuthLink{ComponentAppID: "wxA", PreAuthCode: "pre-2", TenantID: tn.ID, CreatedAt: base, ExpiresAt: base.Add(time.Minute)}))
	if l, _ := h.AuthLink(h.ctx, "wxA", link.ID); l.TenantID != tn.ID {
		t.Fatalf("link tenant %d", l.TenantID)
	}
	n, open, err := h.CountTenantApps(h.ctx, staff, tn.ID, base.Add(2*time.Minute))
	must(t, err)
	if n != 1 || open != 1 {
		t.Fatalf("CountTenantApps = %d, %d; want 1, 1", n, open)
	}
	must(t, h.MarkAuthLinkUsed(h.ctx, "wxA", link.ID, "wxapp1"))
	if _, open, _ := h.CountTenantApps(h.ctx, staff, tn.ID, base); open != 1 {
		t.Fatalf("open links after use = %d, want 1 (the other)", open)
	}

	// Apps of a suspended tenant are blocked for rollouts.
	blocked, err := h.BlockedTenantApps(h.ctx, "wxA")
	must(t, err)
	if len(blocked) != 0 {
		t.Fatalf("blocked %+v", blocked)
	}
	_, err = h.SetTenantStatus(h.ctx, staff, tn.ID, nil, wxfleet.TenantSuspended, base, nil)
	must(t, err)
	blocked, err = h.BlockedTenantApps(h.ctx, "wxA")
	must(t, err)
	if !reflect.DeepEqual(blocked, map[string]store.BlockedApp{"wxapp1": {TenantID: tn.ID, Status: wxfleet.TenantSuspended}}) {
		t.Fatalf("blocked %+v", blocked)
	}
	// Taking an app from its tenant.
	must(t, h.SetAuthorizerTenant(h.ctx, staff, "wxA", "wxapp1", 0))
	if a, _ := h.Authorizer(h.ctx, "wxA", "wxapp1"); a.TenantID != 0 {
		t.Fatalf("tenant not cleared: %d", a.TenantID)
	}
}

func testSubscriptions(t *testing.T, h *harness) {
	p := mustPlan(t, h, "标准版", 3)
	p2 := mustPlan(t, h, "专业版", 10)
	tn := mustTenant(t, h, "acme", 0)
	_, err := h.Subscription(h.ctx, staff, tn.ID)
	wantCode(t, err, wxfleet.ENOTFOUND)
	_, err = h.RenewSubscription(h.ctx, staff, tn.ID, 1, base, nil)
	wantCode(t, err, wxfleet.ECONFLICT)

	sub := &wxfleet.Subscription{TenantID: tn.ID, PlanID: p.ID, StartsAt: base, ExpiresAt: base.AddDate(1, 0, 0), UpdatedAt: base}
	must(t, h.SetSubscription(h.ctx, staff, sub))
	got, err := h.Subscription(h.ctx, staff, tn.ID)
	must(t, err)
	if !reflect.DeepEqual(got, sub) {
		t.Fatalf("Subscription = %+v, want %+v", got, sub)
	}
	if t2, _ := h.Tenant(h.ctx, staff, tn.ID); t2.PlanID != p.ID {
		t.Fatalf("the tenant's plan is %d, want %d", t2.PlanID, p.ID)
	}
	wantCode(t, h.SetSubscription(h.ctx, staff, &wxfleet.Subscription{TenantID: tn.ID, PlanID: p.ID + 99, StartsAt: base, ExpiresAt: base.Add(time.Hour)}), wxfleet.ENOTFOUND)
	wantCode(t, h.SetSubscription(h.ctx, staff, &wxfleet.Subscription{TenantID: 9999, PlanID: p.ID, StartsAt: base, ExpiresAt: base.Add(time.Hour)}), wxfleet.ENOTFOUND)
	wantCode(t, h.SetSubscription(h.ctx, staff, &wxfleet.Subscription{TenantID: tn.ID, PlanID: p.ID, StartsAt: base, ExpiresAt: base}), wxfleet.EINVALID)

	// Renewed before expiry: from the expiry.
	r, err := h.RenewSubscription(h.ctx, staff, tn.ID, 1, base.AddDate(0, 6, 0), nil)
	must(t, err)
	if !r.ExpiresAt.Equal(base.AddDate(2, 0, 0)) || r.Renewals != 1 {
		t.Fatalf("renewed %+v", r)
	}
	// Lapsed and suspended: from now, and active again.
	_, err = h.SetTenantStatus(h.ctx, staff, tn.ID, nil, wxfleet.TenantSuspended, base, nil)
	must(t, err)
	later := base.AddDate(3, 0, 0)
	ran := false
	r, err = h.RenewSubscription(h.ctx, staff, tn.ID, 2, later, func(ctx context.Context, tx *sql.Tx) error { ran = true; return nil })
	must(t, err)
	if !r.ExpiresAt.Equal(later.AddDate(2, 0, 0)) || r.Renewals != 2 || !ran {
		t.Fatalf("renewed after lapse %+v (then ran: %v)", r, ran)
	}
	if t2, _ := h.Tenant(h.ctx, staff, tn.ID); t2.Status != wxfleet.TenantActive {
		t.Fatalf("status after renewal %s", t2.Status)
	}
	_, err = h.RenewSubscription(h.ctx, staff, tn.ID, 0, later, nil)
	wantCode(t, err, wxfleet.EINVALID)

	// A new subscription on another plan replaces the term.
	must(t, h.SetSubscription(h.ctx, staff, &wxfleet.Subscription{TenantID: tn.ID, PlanID: p2.ID, StartsAt: later, ExpiresAt: later.AddDate(1, 0, 0), UpdatedAt: later}))
	if got, _ := h.Subscription(h.ctx, staff, tn.ID); got.PlanID != p2.ID || got.Renewals != 0 {
		t.Fatalf("replaced %+v", got)
	}
}

func testReminders(t *testing.T, h *harness) {
	p := mustPlan(t, h, "标准版", 3)
	day := 24 * time.Hour
	soon := mustTenant(t, h, "soon", 0)   // 5 days left
	later := mustTenant(t, h, "later", 0) // 20 days left
	closed := mustTenant(t, h, "closed", 0)
	for tn, left := range map[*wxfleet.Tenant]time.Duration{soon: 5 * day, later: 20 * day, closed: 5 * day} {
		must(t, h.SetSubscription(h.ctx, staff, &wxfleet.Subscription{TenantID: tn.ID, PlanID: p.ID, StartsAt: base.AddDate(-1, 0, 0), ExpiresAt: base.Add(left)}))
	}
	_, err := h.SetTenantStatus(h.ctx, staff, closed.ID, nil, wxfleet.TenantClosed, base, nil)
	must(t, err)

	due, err := h.TermsDue(h.ctx, base.Add(day), base.Add(7*day), wxfleet.Remind7Days, false, 0)
	must(t, err)
	if len(due) != 1 || due[0].TenantID != soon.ID || !due[0].ExpiresAt.Equal(base.Add(5*day)) || due[0].TenantStatus != wxfleet.TenantActive {
		t.Fatalf("TermsDue(7d) = %+v", due)
	}
	sent := 0
	then := func(ctx context.Context, tx *sql.Tx) error { sent++; return nil }
	ok, err := h.RecordReminder(h.ctx, soon.ID, due[0].ExpiresAt, wxfleet.Remind7Days, base, then)
	must(t, err)
	again, err := h.RecordReminder(h.ctx, soon.ID, due[0].ExpiresAt, wxfleet.Remind7Days, base.Add(time.Hour), then)
	must(t, err)
	if !ok || again || sent != 1 {
		t.Fatalf("RecordReminder: first %v, second %v, then ran %d times", ok, again, sent)
	}
	if due, _ := h.TermsDue(h.ctx, base.Add(day), base.Add(7*day), wxfleet.Remind7Days, false, 0); len(due) != 0 {
		t.Fatalf("reminded term still due: %+v", due)
	}
	// A renewed term (another expires_at) is due again.
	_, err = h.RenewSubscription(h.ctx, staff, soon.ID, 1, base, nil)
	must(t, err)
	if due, _ := h.TermsDue(h.ctx, base.Add(360*day), base.Add(400*day), wxfleet.Remind7Days, false, 0); len(due) != 1 || due[0].TenantID != soon.ID {
		t.Fatalf("renewed term not due: %+v", due)
	}
	rs, err := h.Reminders(h.ctx, staff, soon.ID)
	must(t, err)
	if len(rs) != 1 || rs[0].Kind != wxfleet.Remind7Days || !rs[0].SentAt.Equal(base) {
		t.Fatalf("Reminders = %+v", rs)
	}
	// live leaves suspended tenants out.
	_, err = h.SetTenantStatus(h.ctx, staff, later.ID, nil, wxfleet.TenantSuspended, base, nil)
	must(t, err)
	if due, _ := h.TermsDue(h.ctx, base, base.Add(30*day), wxfleet.RemindSuspended, true, 0); len(due) != 0 {
		t.Fatalf("live terms include a suspended tenant: %+v", due)
	}
	if due, _ := h.TermsDue(h.ctx, base, base.Add(30*day), wxfleet.Remind30Days, false, 0); len(due) != 1 || due[0].TenantID != later.ID {
		t.Fatalf("30d terms %+v", due)
	}
}

func testTargetsByTenantTag(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	vip := mustTenant(t, h, "vip", 0, "vip")
	plain := mustTenant(t, h, "plain", 0, "plain")
	for app, tenant := range map[string]int64{"wx1": vip.ID, "wx2": plain.ID, "wx3": 0, "wx4": vip.ID} {
		a := fullAuthorizer("wxA", app)
		a.TenantID = tenant
		must(t, h.UpsertAuthorizer(h.ctx, a))
	}
	other := fullAuthorizer("wxB", "wx9")
	other.TenantID = vip.ID
	must(t, h.UpsertAuthorizer(h.ctx, other))
	must(t, h.SetAuthorizerTags(h.ctx, "wxA", "wx3", []string{"vip"}))
	must(t, h.SetAuthorizerTags(h.ctx, "wxA", "wx1", []string{"vip"}))
	ids, err := h.TargetAppIDs(h.ctx, "wxA", wxfleet.RolloutTargets{Tags: []string{"vip"}})
	must(t, err)
	if want := []string{"wx1", "wx3", "wx4"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("TargetAppIDs(vip) = %v, want %v", ids, want)
	}
	ids, err = h.TargetAppIDs(h.ctx, "wxA", wxfleet.RolloutTargets{Tags: []string{"plain", "none"}})
	must(t, err)
	if want := []string{"wx2"}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("TargetAppIDs(plain) = %v, want %v", ids, want)
	}
}

// testSeed: the demo seeding makes what it is asked, tops up on a second
// run, and gives the expiry policy work (terms ending soon, some past).
func testSeed(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	res, err := h.Seed(h.ctx, store.SeedOptions{ComponentAppID: "wxA", Tenants: 120, Authorizers: 600, Now: base})
	must(t, err)
	if res.Plans != 3 || res.Tenants != 120 || res.Authorizers != 600 {
		t.Fatalf("Seed = %+v", res)
	}
	res, err = h.Seed(h.ctx, store.SeedOptions{ComponentAppID: "wxA", Tenants: 150, Authorizers: 600, Now: base})
	must(t, err)
	if res.Plans != 0 || res.Tenants != 30 || res.Authorizers != 0 {
		t.Fatalf("second Seed = %+v", res)
	}
	list, _, err := h.ListAuthorizers(h.ctx, "wxA", store.AuthorizerFilter{Limit: 1000})
	must(t, err)
	if len(list) != 600 || list[0].Status != wxfleet.StatusRevoked || list[0].TenantID == 0 {
		t.Fatalf("seeded authorizers: %d, first %+v", len(list), list[0])
	}
	apps, err := h.TenantAuthorizers(h.ctx, staff, list[0].TenantID)
	must(t, err)
	if len(apps) != 5 {
		t.Fatalf("a seeded tenant has %d apps, want 5 (600 over the first 120)", len(apps))
	}
	past, err := h.TermsDue(h.ctx, time.UnixMilli(1), base.Add(-7*24*time.Hour), wxfleet.RemindSuspended, true, 0)
	must(t, err)
	soon, err := h.TermsDue(h.ctx, base, base.Add(30*24*time.Hour), wxfleet.Remind30Days, true, 0)
	must(t, err)
	if len(past) != 3 || len(soon) == 0 {
		t.Fatalf("seeded terms: %d past the grace period (want 3), %d ending within 30 days", len(past), len(soon))
	}
	tagged, err := h.ListTenants(h.ctx, staff, store.TenantFilter{Tag: "north", Limit: 1000})
	must(t, err)
	if len(tagged) == 0 || len(tagged) >= 150 {
		t.Fatalf("%d tenants tagged north", len(tagged))
	}
}
