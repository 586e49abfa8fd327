package store_test

import (
	"context"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// Features own their migration numbers and are merged in any order: a
// database migrated with 00022 but not 00021 (the runtime sessions merged
// before the accounts) takes 00021 at the next Migrate instead of refusing
// to start.
func TestMigrationsMergedOutOfOrder(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		s := storetest.Open(t, b.DSN(t), storetest.NewVault(t))
		if err := s.MigrateOnly(ctx, 17, 22); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate with a lower migration pending: %v", err)
		}
		if ok, err := s.MigrationStatus(ctx); err != nil || !ok {
			t.Fatalf("MigrationStatus after: %v %v", ok, err)
		}
		st, err := s.Schema(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range st.Migrations {
			if !m.Applied {
				t.Errorf("migration %d still pending", m.Version)
			}
		}
		if _, err := s.ListAccounts(ctx, wxfleet.Scope{}, 0, 1); err != nil {
			t.Fatalf("00021's tables: %v", err)
		}
	})
}
