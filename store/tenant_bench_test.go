package store_test

import (
	"os"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// BenchmarkTenantPages measures the tenant and authorizer pages at the
// issue's scale: 20,000 tenants and 100,000 authorizers (store.Seed), on a
// SQLite file and on PostgreSQL when WXFLEET_TEST_POSTGRES is set.
//
//	go test -run '^$' -bench TenantPages -benchtime 200x ./store/
func BenchmarkTenantPages(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchTenantPages(b, sqliteBackend) })
	b.Run("postgres", func(b *testing.B) {
		dsn := os.Getenv(postgresEnv)
		if dsn == "" {
			b.Skip("WXFLEET_TEST_POSTGRES not set: skipping PostgreSQL store benchmarks")
		}
		benchTenantPages(b, postgresBackend(dsn))
	})
}

func benchTenantPages(b *testing.B, be backend) {
	ctx := b.Context()
	s, _ := be.open(b, newVault(b))
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := s.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxA"}); err != nil {
		b.Fatal(err)
	}
	res, err := s.Seed(ctx, store.SeedOptions{ComponentAppID: "wxA", Tenants: 20_000, Authorizers: 100_000, Now: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d tenants and %d authorizers in %v", res.Tenants, res.Authorizers, res.Took.Round(time.Millisecond))
	all := wxfleet.Scope{}
	page := func(f store.TenantFilter) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				list, err := s.ListTenants(ctx, all, f)
				if err != nil || len(list) == 0 {
					b.Fatalf("ListTenants(%+v) = %d, %v", f, len(list), err)
				}
			}
		}
	}
	b.Run("tenants/first-page", page(store.TenantFilter{Limit: 50}))
	b.Run("tenants/last-page", page(store.TenantFilter{Limit: 50, Cursor: 19_960}))
	b.Run("tenants/tag", page(store.TenantFilter{Limit: 50, Tag: "vip", Cursor: 10_000}))
	b.Run("tenants/status", page(store.TenantFilter{Limit: 50, Status: wxfleet.TenantTrial, Cursor: 10_000}))
	b.Run("tenants/name-search", page(store.TenantFilter{Limit: 50, Q: "merchant 1999"}))
	b.Run("tenant/detail", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Tenant(ctx, all, 12_345); err != nil {
				b.Fatal(err)
			}
			apps, err := s.TenantAuthorizers(ctx, all, 12_345)
			if err != nil || len(apps) != 5 {
				b.Fatalf("TenantAuthorizers = %d, %v", len(apps), err)
			}
			if _, err := s.Subscription(ctx, all, 12_345); err != nil {
				b.Fatal(err)
			}
		}
	})
	authorizers := func(f store.AuthorizerFilter) func(b *testing.B) {
		return func(b *testing.B) {
			for b.Loop() {
				list, _, err := s.ListAuthorizers(ctx, "wxA", f)
				if err != nil || len(list) == 0 {
					b.Fatalf("ListAuthorizers(%+v) = %d, %v", f, len(list), err)
				}
			}
		}
	}
	// The API counts the total on the first page and, unless asked
	// (total=true), not on the others.
	deep := store.SeedAppIDPrefix + "0000090000"
	b.Run("authorizers/first-page", authorizers(store.AuthorizerFilter{Limit: 100, Total: true}))
	b.Run("authorizers/first-page-no-total", authorizers(store.AuthorizerFilter{Limit: 100}))
	b.Run("authorizers/deep-page", authorizers(store.AuthorizerFilter{Limit: 100, Cursor: deep}))
	b.Run("authorizers/deep-page-total", authorizers(store.AuthorizerFilter{Limit: 100, Cursor: deep, Total: true}))
	b.Run("authorizers/by-tenant", authorizers(store.AuthorizerFilter{Limit: 100, TenantID: 4_321}))
	// The console's search: one app by its appid, or by a part of its name
	// (a scan of the platform's rows), with the first page's total.
	b.Run("authorizers/search-appid", authorizers(store.AuthorizerFilter{Limit: 50, Total: true, Query: store.SeedAppIDPrefix + "0000054321"}))
	b.Run("authorizers/search-name", authorizers(store.AuthorizerFilter{Limit: 50, Total: true, Query: "app 054321"}))
	b.Run("rollout-targets/tenant-tag", func(b *testing.B) {
		for b.Loop() {
			ids, err := s.TargetAppIDs(ctx, "wxA", wxfleet.RolloutTargets{Tags: []string{"vip"}})
			if err != nil || len(ids) == 0 {
				b.Fatalf("TargetAppIDs = %d, %v", len(ids), err)
			}
		}
	})
	b.Run("rollout-targets/blocked", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.BlockedTenantApps(ctx, "wxA"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
