package main

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/server"
	"github.com/wxfleet/wxfleet/vault"
)

// platformEnv is a complete platform configuration for serve.
func platformEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"WXFLEET_ADMIN_TOKEN": "masterkey-test-admin-token-32-chars!", "WXFLEET_COMPONENT_APPID": crashPlatform.appID, "WXFLEET_COMPONENT_SECRET": crashPlatform.secret,
		"WXFLEET_COMPONENT_TOKEN": crashPlatform.token, "WXFLEET_COMPONENT_AES_KEY": crashPlatform.aesKey,
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// serve on PostgreSQL without a master key refuses before connecting, and
// says how to make one; it creates no key file.
func TestServeOnPostgresNeedsAMasterKey(t *testing.T) {
	dir := t.TempDir()
	// Port 1: nothing listens there, so reaching the database would fail
	// differently; the refusal must come first.
	_, _, err := runCmd(t, "", platformEnv(map[string]string{"WXFLEET_DATABASE": "postgres://wxfleet@127.0.0.1:1/wxfleet"}),
		"serve", "--addr", "127.0.0.1:0", "--data", dir)
	if err == nil {
		t.Fatal("serve on PostgreSQL started without a master key")
	}
	for _, want := range []string{"WXFLEET_MASTER_KEY", "wxfleet keygen", "openssl rand -base64 32", "主密钥"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Error("serve on PostgreSQL wrote a master.key")
	}
}

func TestKeygenPrintsAKey(t *testing.T) {
	a, _, err := runCmd(t, "", nil, "keygen")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := runCmd(t, "", nil, "keygen")
	k, err := vault.ParseKey(a)
	if err != nil || len(k) != vault.KeySize {
		t.Fatalf("keygen printed %q: %v", a, err)
	}
	if a == b {
		t.Fatal("keygen printed the same key twice")
	}
}

// The database remembers the key's fingerprint: a start with another key is
// refused, naming both fingerprints, and the right key still works; on both
// databases.
func TestMismatchedMasterKeyRefused(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), "wxfleet.db")
			if db == "postgres" {
				dsn = postgresDSN(t)
			}
			key1, key2 := vault.GenerateKey(), vault.GenerateKey()
			if err := newServer(t, dsn, key1); err != nil {
				t.Fatalf("first start: %v", err)
			}
			err := newServer(t, dsn, key2)
			if err == nil {
				t.Fatal("a start with another master key was accepted")
			}
			v1, _ := vault.New(key1)
			v2, _ := vault.New(key2)
			msg := err.Error()
			if wxfleet.ErrorCode(err) != wxfleet.EINVALID || !strings.Contains(msg, v1.Fingerprint()[:16]) || !strings.Contains(msg, v2.Fingerprint()[:16]) {
				t.Fatalf("error %q (%s) does not name the stored and the given fingerprint", msg, wxfleet.ErrorCode(err))
			}
			if strings.Contains(msg, vault.EncodeKey(key1)) || strings.Contains(msg, vault.EncodeKey(key2)) {
				t.Fatal("the error shows a key")
			}
			if err := newServer(t, dsn, key1); err != nil {
				t.Fatalf("the right key after a refused one: %v", err)
			}
		})
	}
}

// A database written before fingerprints existed (secrets, no fingerprint)
// refuses a key that cannot open its secrets.
func TestLegacyDatabaseChecksItsSecrets(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "wxfleet.db")
	key1 := vault.GenerateKey()
	if err := newServer(t, dsn, key1); err != nil {
		t.Fatal(err)
	}
	forgetFingerprint(t, dsn)
	if err := newServer(t, dsn, vault.GenerateKey()); err == nil || !strings.Contains(err.Error(), "cannot open the secrets") {
		t.Fatalf("another key on a database without a fingerprint: %v", err)
	}
	if err := newServer(t, dsn, key1); err != nil {
		t.Fatalf("its own key: %v", err)
	}
}

// newServer builds (and closes) a platform on dsn with key.
func newServer(t *testing.T, dsn string, key []byte) error {
	t.Helper()
	srv, err := server.New(context.Background(), server.Config{
		Addr: "127.0.0.1:0", Database: dsn, WeChatURL: "http://127.0.0.1:1", AdminToken: "x", MasterKey: key,
		Platforms: []wxfleet.Platform{demoPlatform}, Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err == nil {
		srv.Close()
	}
	return err
}

// migrate reads no master key and writes none, on either database.
func TestMigrateMakesNoKey(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{}
			if db == "postgres" {
				env["WXFLEET_DATABASE"] = postgresDSN(t)
			}
			out, stderr, err := runCmd(t, "", env, "migrate", "--data", dir)
			if err != nil {
				t.Fatalf("migrate: %v\n%s", err, stderr)
			}
			if !strings.Contains(out, "migrations applied") {
				t.Fatalf("migrate printed %q", out)
			}
			if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
				t.Fatal("migrate created master.key")
			}
			if db == "sqlite" {
				if _, err := os.Stat(filepath.Join(dir, "wxfleet.db")); err != nil {
					t.Fatalf("migrate made no database: %v", err)
				}
			}
		})
	}
}

// The SQLite demo needs nothing set: it makes its key, says to back it up,
// and finds it again on the next start.
func TestSQLiteDemoKeepsItsKey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo twice")
	}
	dir := t.TempDir()
	for i, want := range []string{"created a new master key", "back it up together with the database"} {
		out := runDemoUntilServing(t, dir)
		if !strings.Contains(out, want) || !strings.Contains(out, filepath.Join(dir, "master.key")) {
			t.Fatalf("start %d: the log does not say %q about %s:\n%s", i+1, want, filepath.Join(dir, "master.key"), out)
		}
		if i == 1 && strings.Contains(out, "created a new master key") {
			t.Fatalf("the second start made another key:\n%s", out)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master.key: %v, %v", fi, err)
	}
}

// runDemoUntilServing runs `wxfleet demo` until it prints its banner, stops
// it, and returns what it printed.
func runDemoUntilServing(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--sandbox-addr", "127.0.0.1:0", "--data", dir},
			strings.NewReader(""), out, out, func(string) (string, bool) { return "", false }, nil)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "demo running") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("demo ended before serving: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("demo not serving after 30 s:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	return out.String()
}

// forgetFingerprint makes dsn look like a database from before fingerprints.
func forgetFingerprint(t *testing.T, dsn string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res, err := db.Exec(`DELETE FROM meta`); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("deleted %d meta rows, want the fingerprint's", n)
	}
}
