package store_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

func versions(l []store.MigrationState, applied bool) []int64 {
	var out []int64
	for _, m := range l {
		if m.Applied == applied {
			out = append(out, m.Version)
		}
	}
	return out
}

func schemaOf(t *testing.T, s *store.Store) *store.SchemaStatus {
	t.Helper()
	st, err := s.Schema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// migrate --status and --to on both databases: a fresh database has
// everything pending, Migrate applies all, MigrateTo goes down (dropping the
// tables) and back up, and refuses a version that does not exist.
func TestSchemaStatusAndMigrateTo(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		s := storetest.Open(t, b.DSN(t), storetest.NewVault(t))
		st := schemaOf(t, s)
		all := versions(st.Migrations, false)
		if len(versions(st.Migrations, true)) != 0 || len(all) < 4 || store.Current(st.Migrations) != 0 {
			t.Fatalf("fresh database: %+v", st.Migrations)
		}
		if len(versions(st.River, true)) != 0 || len(st.River) == 0 {
			t.Fatalf("fresh database, River: %+v", st.River)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		st = schemaOf(t, s)
		latest := store.Latest(st.Migrations)
		if len(versions(st.Migrations, false)) != 0 || len(versions(st.River, false)) != 0 || store.Current(st.Migrations) != latest {
			t.Fatalf("after Migrate, pending: %v %v", versions(st.Migrations, false), versions(st.River, false))
		}
		for _, m := range st.Migrations {
			if m.AppliedAt.IsZero() || m.Name == "" || m.Unknown {
				t.Errorf("applied migration %+v: want a name and a time", m)
			}
		}

		// Down to the third migration: the later ones' tables are gone.
		third := all[2]
		applied, reverted, err := s.MigrateTo(ctx, third)
		if err != nil || len(applied) != 0 {
			t.Fatalf("MigrateTo(%d): %v %v %v", third, applied, reverted, err)
		}
		if want := all[3:]; !slices.Equal(reverted, reversed(want)) {
			t.Fatalf("MigrateTo(%d) reverted %v, want %v", third, reverted, reversed(want))
		}
		if got := versions(schemaOf(t, s).Migrations, false); !slices.Equal(got, all[3:]) {
			t.Fatalf("pending after going down: %v, want %v", got, all[3:])
		}
		if _, err := s.WriteDB().ExecContext(ctx, `SELECT count(*) FROM rollouts`); err == nil {
			t.Fatal("the rollouts table survived going down below its migration")
		}
		// River's tables are left alone.
		if got := versions(schemaOf(t, s).River, false); len(got) != 0 {
			t.Fatalf("River migrations pending after a wxfleet downgrade: %v", got)
		}

		// A version that does not exist is refused, naming the choices.
		if _, _, err := s.MigrateTo(ctx, latest+100); wxfleet.ErrorCode(err) != wxfleet.EINVALID || !strings.Contains(err.Error(), "choose 0 or one of") {
			t.Fatalf("MigrateTo(unknown): %v", err)
		}

		// All the way down and back up.
		if _, reverted, err = s.MigrateTo(ctx, 0); err != nil || !slices.Equal(reverted, reversed(all[:3])) {
			t.Fatalf("MigrateTo(0): reverted %v, %v", reverted, err)
		}
		if got := store.Current(schemaOf(t, s).Migrations); got != 0 {
			t.Fatalf("version after MigrateTo(0): %d", got)
		}
		if applied, _, err = s.MigrateTo(ctx, latest); err != nil || !slices.Equal(applied, all) {
			t.Fatalf("MigrateTo(%d): applied %v, %v", latest, applied, err)
		}
		p := &wxfleet.Platform{AppID: "wxschema", Name: "n", Secret: "s", Token: "t", AESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}
		if err := s.UpsertPlatform(ctx, p); err != nil {
			t.Fatalf("the store after going down and up again: %v", err)
		}
		if applied, reverted, err := s.MigrateTo(ctx, latest); err != nil || len(applied)+len(reverted) != 0 {
			t.Fatalf("MigrateTo(current): %v %v %v", applied, reverted, err)
		}
	})
}

func reversed(v []int64) []int64 {
	out := slices.Clone(v)
	slices.Reverse(out)
	return out
}

// A database a newer wxfleet (or River) migrated is refused by Migrate and
// MigrateTo, naming both versions, and left unchanged.
func TestNewerSchemaIsRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		s := storetest.Migrated(t, b.DSN(t), storetest.NewVault(t))
		latest := store.Latest(schemaOf(t, s).Migrations)
		newer := latest + 3
		if _, err := s.WriteDB().ExecContext(ctx, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, newer); err != nil {
			t.Fatal(err)
		}
		st := schemaOf(t, s)
		if store.Current(st.Migrations) != newer || !st.Migrations[len(st.Migrations)-1].Unknown {
			t.Fatalf("status of a newer database: %+v", st.Migrations)
		}
		check := func(what string, err error, db, known int64) {
			t.Helper()
			var ne *store.NewerSchemaError
			if !errors.As(err, &ne) || ne.Database != db || ne.Known != known || ne.What != what {
				t.Fatalf("err = %v, want a NewerSchemaError for %s %d > %d", err, what, db, known)
			}
			if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
				t.Errorf("code %q, want %q", wxfleet.ErrorCode(err), wxfleet.ECONFLICT)
			}
			for _, want := range []string{"数据库比本程序新", "the database is newer than this binary", "wxfleet migrate --to"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
		}
		check("wxfleet", s.Migrate(ctx), newer, latest)
		_, _, err := s.MigrateTo(ctx, latest)
		check("wxfleet", err, newer, latest)
		if got := store.Current(schemaOf(t, s).Migrations); got != newer {
			t.Fatalf("the refusal changed the schema: version %d", got)
		}

		// River's table, likewise.
		if _, err := s.WriteDB().ExecContext(ctx, `DELETE FROM goose_db_version WHERE version_id = $1`, newer); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("after removing the fake version: %v", err)
		}
		river := store.Latest(schemaOf(t, s).River)
		if _, err := s.WriteDB().ExecContext(ctx, `INSERT INTO river_migration (line, version) VALUES ('main', $1)`, river+1); err != nil {
			t.Fatal(err)
		}
		check("River", s.Migrate(ctx), river+1, river)
	})
}
