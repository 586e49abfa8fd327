package authorization

import (
	"context"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// tenantLink adds a link made for a new tenant to the fixture; it returns
// the link, its state and the tenant's id.
func (f *fixture) tenantLink(t *testing.T) (*wxfleet.AuthLink, string, int64) {
	t.Helper()
	ctx := context.Background()
	tn := &wxfleet.Tenant{Name: "Acme", Status: wxfleet.TenantActive, CreatedAt: f.now, UpdatedAt: f.now}
	if err := f.main.CreateTenant(ctx, wxfleet.Scope{}, tn); err != nil {
		t.Fatal(err)
	}
	state := "state-of-the-tenant-link"
	l := &wxfleet.AuthLink{ComponentAppID: "wxcomp", PreAuthCode: "preauthcode@@@tenant", TenantID: tn.ID, AuthType: 2, CreatedAt: f.now,
		ExpiresAt: f.now.Add(10 * time.Minute), StateDigest: stateDigest(state)}
	if err := f.main.CreateAuthLink(ctx, l); err != nil {
		t.Fatal(err)
	}
	return l, state, tn.ID
}

func (f *fixture) wantTenant(t *testing.T, want int64) {
	t.Helper()
	a, err := f.main.Authorizer(context.Background(), "wxcomp", "wxapp")
	if err != nil {
		t.Fatal(err)
	}
	if a.TenantID != want || a.Status != wxfleet.StatusAuthorized {
		t.Fatalf("authorizer's tenant %d (status %s), want %d", a.TenantID, a.Status, want)
	}
}

// A mini program authorized through a tenant's link lands on the tenant,
// whichever of WeChat's two reports completes it: the callback alone, the
// push alone, or the push first without knowing the link and the callback
// after it (which then only attributes).
func TestTenantLinkLandsOnTenant(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		t.Run("callback", func(t *testing.T) {
			f, s := newFixture(t, b)
			l, state, tenant := f.tenantLink(t)
			if _, err := s.Callback(ctx, "wxcomp", l.ID, state, "", "authcode-1"); err != nil {
				t.Fatal(err)
			}
			f.wantTenant(t, tenant)
		})
		t.Run("push", func(t *testing.T) {
			f, s := newFixture(t, b)
			_, _, tenant := f.tenantLink(t)
			if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-1", store.PreAuthDigest("preauthcode@@@tenant"), f.now); err != nil {
				t.Fatal(err)
			}
			f.wantTenant(t, tenant)
		})
		t.Run("push-then-callback", func(t *testing.T) {
			f, s := newFixture(t, b)
			l, state, tenant := f.tenantLink(t)
			if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-1", "", f.now); err != nil {
				t.Fatal(err)
			}
			f.wantTenant(t, 0)
			if _, err := s.Callback(ctx, "wxcomp", l.ID, state, "", "authcode-1"); err != nil {
				t.Fatal(err)
			}
			f.wantTenant(t, tenant)
			if q := f.wc.queryAuth.Load(); q != 1 {
				t.Fatalf("%d exchanges, want 1", q)
			}
		})
		t.Run("plain-link-keeps-tenant", func(t *testing.T) {
			f, s := newFixture(t, b)
			_, _, tenant := f.tenantLink(t)
			if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-1", store.PreAuthDigest("preauthcode@@@tenant"), f.now); err != nil {
				t.Fatal(err)
			}
			// Authorized again later through the fixture's plain link (merchant m-1).
			f.now = f.now.Add(time.Hour)
			if _, err := s.HandlePush(ctx, "wxcomp", "wxapp", "authcode-2", store.PreAuthDigest("preauthcode@@@1"), f.now); err != nil {
				t.Fatal(err)
			}
			f.wantTenant(t, tenant)
		})
	})
}
