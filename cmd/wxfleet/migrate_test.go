package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/vault"
)

// serveEnv is what `wxfleet serve` needs besides the database.
func serveEnv(dsn string) map[string]string {
	return map[string]string{
		"WXFLEET_COMPONENT_APPID": crashPlatform.appID, "WXFLEET_COMPONENT_SECRET": crashPlatform.secret,
		"WXFLEET_COMPONENT_TOKEN": crashPlatform.token, "WXFLEET_COMPONENT_AES_KEY": crashPlatform.aesKey,
		"WXFLEET_ADMIN_TOKEN": "migrate-admin-token-of-32-characters", "WXFLEET_MASTER_KEY": vault.EncodeKey(vault.GenerateKey()),
		"WXFLEET_DATABASE": dsn,
	}
}

// migrate --status lists both kinds of migrations, --to goes down and up,
// and serve refuses a database a newer wxfleet migrated, naming both
// versions and what to do, in Chinese and English.
func TestMigrateCommandAndNewerDatabase(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		dsn := b.DSN(t)
		env := serveEnv(dsn)
		env["WXFLEET_DATA"] = t.TempDir()
		out, _, err := runCmd(t, "", env, "migrate", "--status")
		if err != nil || !strings.Contains(out, "wxfleet schema: version 0") || !strings.Contains(out, "pending: run `wxfleet migrate`") ||
			!strings.Contains(out, "River schema: version 0") || !strings.Contains(out, "00001_init.sql") {
			t.Fatalf("status of a fresh database: %v\n%s", err, out)
		}
		if _, _, err := runCmd(t, "", env, "migrate"); err != nil {
			t.Fatal(err)
		}
		out, _, err = runCmd(t, "", env, "migrate", "--status")
		if err != nil || strings.Contains(out, "pending:") || strings.Count(out, "(up to date)") != 2 {
			t.Fatalf("status after migrate: %v\n%s", err, out)
		}
		out, _, err = runCmd(t, "", env, "migrate", "--to", "3")
		// Every migration above 3 is reverted, however many there are by now.
		if err != nil || !strings.Contains(out, "reverted ") || !strings.Contains(out, "now at version 3") {
			t.Fatalf("migrate --to 3: %v\n%s", err, out)
		}
		out, _, _ = runCmd(t, "", env, "migrate", "--status")
		if !strings.Contains(out, "wxfleet schema: version 3") || !strings.Contains(out, " pending: run `wxfleet migrate`") || !strings.Contains(out, "00006_rollouts.sql") {
			t.Fatalf("status after --to 3:\n%s", out)
		}
		if _, _, err := runCmd(t, "", env, "migrate", "--status", "--to", "3"); err == nil {
			t.Fatal("--status with --to accepted")
		}
		if _, _, err := runCmd(t, "", env, "migrate"); err != nil {
			t.Fatal(err)
		}

		// A newer wxfleet migrated the database since.
		s := storetest.Open(t, dsn, storetest.NewVault(t))
		st, err := s.Schema(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		latest := store.Latest(st.Migrations)
		if _, err := s.WriteDB().Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, latest+1); err != nil {
			t.Fatal(err)
		}
		out, _, err = runCmd(t, "", env, "migrate", "--status")
		if err == nil || !strings.Contains(out, "NEWER than this binary") || !strings.Contains(out, "unknown to this binary") {
			t.Fatalf("status of a newer database: %v\n%s", err, out)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout, stderr strings.Builder
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		err = run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, strings.NewReader(""), &stdout, &stderr, lookup, nil)
		if err == nil {
			t.Fatal("serve started on a newer database")
		}
		for _, want := range []string{
			"数据库比本程序新", "the database is newer than this binary",
			fmt.Sprintf("version %d", latest+1), fmt.Sprintf("up to %d", latest), fmt.Sprintf("wxfleet migrate --to %d", latest),
			"wxfleet " + buildInfo().Version,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("serve's refusal %q lacks %q", err, want)
			}
		}
		t.Logf("serve refused: %v", err)
		if strings.Contains(stderr.String(), "wxfleet serving") {
			t.Error("serve logged that it was serving")
		}
	})
}
