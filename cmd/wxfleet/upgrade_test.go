package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

const upgradeAdmin = "crash-admin-token-of-at-least-32-chars"

// git runs git in the repository holding this package.
func git(args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", filepath.Join("..", "..")}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// latestMigration is the highest version among the migration file names.
func latestMigration(names []string) int64 {
	var v int64
	for _, n := range names {
		if m := regexp.MustCompile(`^(\d+)_.*\.(sql|go)$`).FindStringSubmatch(filepath.Base(n)); m != nil {
			x, _ := strconv.ParseInt(m[1], 10, 64)
			v = max(v, x)
		}
	}
	return v
}

// oldRelease picks the "old" binary's commit for the rolling upgrade: the
// one WXFLEET_TEST_UPGRADE_FROM names (e.g. the last release), else the
// parent of the commit that added the newest PostgreSQL migration, so the
// upgrade applies at least one migration while the old binary runs. It
// skips when the repository's history is not at hand.
func oldRelease(t *testing.T) (ref string, oldSchema, newSchema int64) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed: skipping the rolling upgrade from an older commit")
	}
	if shallow, err := git("rev-parse", "--is-shallow-repository"); err != nil || shallow == "true" {
		t.Skipf("no git history here (%v, shallow=%s): skipping the rolling upgrade from an older commit; fetch the history (git fetch --unshallow) to run it", err, shallow)
	}
	ref = os.Getenv("WXFLEET_TEST_UPGRADE_FROM")
	if ref == "" {
		added, err := git("log", "--diff-filter=A", "--format=%H", "-n", "1", "--", "store/migrations/postgres/")
		if err != nil || added == "" {
			t.Skipf("cannot find the commit of the newest migration (%v): skipping", err)
		}
		ref = added + "^"
	}
	commit, err := git("rev-parse", "--verify", ref+"^{commit}")
	if err != nil {
		t.Skipf("%s is not in this repository's history (%v): skipping", ref, err)
	}
	oldFiles, err := git("ls-tree", "--name-only", commit, "store/migrations/postgres/")
	if err != nil {
		t.Fatal(err)
	}
	newFiles, _ := filepath.Glob(filepath.Join("..", "..", "store", "migrations", "postgres", "*"))
	return commit, latestMigration(strings.Fields(oldFiles)), latestMigration(newFiles)
}

// buildOld builds cmd/wxfleet of commit into dir, skipping when the build
// needs modules this machine cannot fetch.
func buildOld(t *testing.T, commit, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	archive := exec.Command("git", "-C", filepath.Join("..", ".."), "archive", commit)
	untar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		t.Skipf("tar: %v: skipping", err)
	}
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v", commit, err)
	}
	if err := untar.Wait(); err != nil {
		t.Fatalf("tar: %v", err)
	}
	bin := filepath.Join(dir, "wxfleet-old")
	build := exec.Command("go", "build", "-o", bin, "./cmd/wxfleet")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	out, err := build.CombinedOutput()
	if err != nil {
		if regexp.MustCompile(`(?i)module lookup disabled|cannot find module|dial tcp|GOPROXY|missing go.sum entry|no required module`).Match(out) {
			t.Skipf("cannot build %s here (its modules are not available offline): %s", commit[:12], out)
		}
		t.Fatalf("building %s: %v\n%s", commit[:12], err, out)
	}
	return bin
}

// schemaVersion is wxfleet's schema version of the database at dsn.
func schemaVersion(t *testing.T, dsn string) int64 {
	t.Helper()
	v, _ := vault.New(vault.GenerateKey())
	st, err := store.Open(context.Background(), dsn, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Schema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return store.Current(s.Migrations)
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("GET %s/readyz: %v", base, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// A rolling upgrade on PostgreSQL, with two real binaries: an instance of
// the old release (built from git) serves pushes; an instance of this
// version starts on the same database and applies its newer migrations
// while the old one keeps serving; the old instance still acknowledges and
// stores pushes on the new schema and stays ready, then is stopped. Every
// push either instance acknowledged is stored and readable through the new
// one.
func TestRollingUpgradeOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an older wxfleet")
	}
	dsn := postgresDSN(t)
	commit, oldSchema, newSchema := oldRelease(t)
	if oldSchema >= newSchema {
		t.Skipf("the old commit %s has schema %d, this one %d: no migration to roll over", commit[:12], oldSchema, newSchema)
	}
	bin := buildOld(t, commit, t.TempDir())
	t.Logf("old release %s (schema %d) → this version (schema %d)", commit[:12], oldSchema, newSchema)

	key := vault.EncodeKey(vault.GenerateKey())
	env := []string{"WXFLEET_DATABASE=" + dsn, "WXFLEET_MASTER_KEY=" + key}
	old := startServeBinary(t, bin, t.TempDir(), "http://127.0.0.1:1", env...)
	if v := schemaVersion(t, dsn); v != oldSchema {
		t.Fatalf("the old instance migrated to %d, want %d", v, oldSchema)
	}
	loadOld := startPushLoad(t, old.url, crashPlatform.token, crashPlatform.aesKey, crashPlatform.appID, "wxupgradeold0001", 6, 65000000000000000)
	loadOld.waitAcked(200)

	// The new version joins and migrates while the old one takes pushes.
	cur := startServeWith(t, t.TempDir(), "http://127.0.0.1:1", env...)
	if v := schemaVersion(t, dsn); v != newSchema {
		t.Fatalf("the new instance left schema %d, want %d", v, newSchema)
	}
	atSwitch := loadOld.nAcked.Load()
	loadNew := startPushLoad(t, cur.url, crashPlatform.token, crashPlatform.aesKey, crashPlatform.appID, "wxupgradenew0001", 6, 66000000000000000)
	loadOld.waitAcked(atSwitch + 300) // the old binary acknowledges pushes on the new schema
	loadNew.waitAcked(300)
	if st, body := readyz(t, old.url); st != 200 {
		t.Errorf("the old instance is not ready on the new schema: %d %s (a load balancer would drop it mid-upgrade)", st, body)
	}
	if st, body := readyz(t, cur.url); st != 200 {
		t.Errorf("the new instance is not ready: %d %s", st, body)
	}

	// The old instance leaves, as a rolling upgrade replaces it.
	loadOld.halt()
	stopServe(t, old)
	if code := old.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the old instance exited %d on SIGTERM:\n%s", code, tail(old.output(), 20))
	}
	if strings.Contains(old.output(), "level=ERROR") {
		t.Errorf("the old instance logged errors on the new schema:\n%s", grepLines(old.output(), "level=ERROR"))
	}
	loadNew.halt()
	stored := storedMsgIDs(t, cur.url, upgradeAdmin)
	ackedOld, ackedNew := loadOld.snapshot(), loadNew.snapshot()
	if n := missing(ackedOld, stored); n > 0 {
		t.Fatalf("%d of %d pushes the old instance acknowledged are not stored", n, len(ackedOld))
	}
	if n := missing(ackedNew, stored); n > 0 {
		t.Fatalf("%d of %d pushes the new instance acknowledged are not stored", n, len(ackedNew))
	}
	t.Logf("old instance: %d pushes acknowledged (%d after the new one migrated), new instance: %d; all %d stored",
		len(ackedOld), int64(len(ackedOld))-atSwitch, len(ackedNew), len(stored))
}

func grepLines(out, substr string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// The compatibility rule from this version on: while an instance runs, a
// newer version may apply an additive migration (a new table, a new column
// with a default) and the running instance keeps working — it acknowledges
// and stores pushes, stays ready and serves the API — but a restart of it
// is refused, naming both versions, so that an old binary never starts on a
// schema it does not know. The newer migration is simulated here: one more
// goose version and the kind of change an expand migration makes.
func TestRunningInstanceSurvivesANewerExpandMigration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wxfleet twice")
	}
	dsn := postgresDSN(t)
	key := vault.EncodeKey(vault.GenerateKey())
	env := []string{"WXFLEET_DATABASE=" + dsn, "WXFLEET_MASTER_KEY=" + key}
	dir := t.TempDir()
	p := startServeWith(t, dir, "http://127.0.0.1:1", env...)
	load := startPushLoad(t, p.url, crashPlatform.token, crashPlatform.aesKey, crashPlatform.appID, "wxexpandapp00001", 6, 67000000000000000)
	load.waitAcked(200)

	current := schemaVersion(t, dsn)
	next := current + 1
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE upgrade_probe (id BIGINT PRIMARY KEY, note TEXT NOT NULL DEFAULT '')`,
		`ALTER TABLE events ADD COLUMN upgrade_note TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE authorizers ADD COLUMN upgrade_flag INTEGER NOT NULL DEFAULT 0`,
		fmt.Sprintf(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, true)`, next),
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	at := load.nAcked.Load()
	load.waitAcked(at + 300)
	if st, body := readyz(t, p.url); st != 200 {
		t.Fatalf("the running instance is not ready after a newer expand migration: %d %s", st, body)
	}
	load.halt()
	stored := storedMsgIDs(t, p.url, upgradeAdmin)
	if n := missing(load.snapshot(), stored); n > 0 {
		t.Fatalf("%d acknowledged pushes not stored across the newer migration", n)
	}
	stopServe(t, p)

	// A restart on the newer schema is refused, naming both versions.
	_, _, err = runCmd(t, "", platformEnv(map[string]string{"WXFLEET_DATABASE": dsn, "WXFLEET_MASTER_KEY": key}),
		"serve", "--addr", "127.0.0.1:0", "--data", dir, "--wechat-url", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), strconv.FormatInt(next, 10)) || !strings.Contains(err.Error(), strconv.FormatInt(current, 10)) {
		t.Fatalf("a restart on a newer schema: %v; want a refusal naming %d and %d", err, next, current)
	}
}

// Migrations are expand-only: an Up section adds (tables, columns with a
// default, indexes) and never drops, renames or retypes what the release
// before reads, so two consecutive releases run on one database during a
// rolling upgrade. A contract step (dropping what no supported release
// reads any more) must say so with a "-- wxfleet: contract" line, and
// docs/operations.md says it needs every instance on the release before.
func TestMigrationsAreExpandOnly(t *testing.T) {
	destructive := regexp.MustCompile(`(?i)\b(DROP\s+(TABLE|COLUMN|INDEX|CONSTRAINT)|RENAME\s+(TO|COLUMN)|ALTER\s+COLUMN\s+\S+\s+(TYPE|SET\s+NOT\s+NULL))`)
	// A NOT NULL column without a default breaks the older release's inserts.
	notNull, hasDefault := regexp.MustCompile(`(?i)\bADD\s+COLUMN\b.*\bNOT\s+NULL\b`), regexp.MustCompile(`(?i)\bDEFAULT\b`)
	var files []string
	for _, dialect := range []string{"sqlite", "postgres"} {
		fs, _ := filepath.Glob(filepath.Join("..", "..", "store", "migrations", dialect, "*.sql"))
		files = append(files, fs...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no migrations found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		up, _, _ := strings.Cut(text, "-- +goose Down")
		if strings.Contains(up, "-- wxfleet: contract") {
			continue
		}
		for i, line := range strings.Split(up, "\n") {
			code, _, _ := strings.Cut(line, "--")
			if destructive.MatchString(code) || (notNull.MatchString(code) && !hasDefault.MatchString(code)) {
				t.Errorf("%s:%d: %q is not an expand step: an instance of the release before would break during a rolling upgrade "+
					"(mark a deliberate contract migration with \"-- wxfleet: contract\"; see docs/operations.md)", filepath.Base(f), i+1, strings.TrimSpace(code))
			}
		}
	}
}
