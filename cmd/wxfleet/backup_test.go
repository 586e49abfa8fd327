package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/ingest"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/vault"
)

// A backup of the running demo under push load, restored into a new data
// directory, holds every push acknowledged before the backup began — also
// those still in the ingest journal at that moment. The master key stays out
// of the backup; restore refuses a database in use and a mismatched key.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("boots the demo twice under load")
	}
	key := make([]byte, 32)
	rand.Read(key)
	d := bootDemoWith(t, func(o *demoOptions) { o.MasterKey = key })
	load := startPushLoad(t, d.Platform.URL(), demoPlatform.Token.Reveal(), demoPlatform.AESKey.Reveal(), demoPlatform.AppID, "wxbackupapp00001", 16, 62000000000000000)
	load.waitAcked(1000)
	// Best effort: start while the journal holds pushes the database has not
	// got yet, the case the backup must not lose.
	deadline := time.Now().Add(5 * time.Second)
	backlog := journalBacklog(d.Platform.URL(), d.AdminToken)
	for backlog <= 0 && time.Now().Before(deadline) {
		backlog = journalBacklog(d.Platform.URL(), d.AdminToken)
	}
	before := load.snapshot()
	out := filepath.Join(t.TempDir(), "backup.db")
	stdout, _, err := runCmd(t, "", nil, "backup", "--data", d.data, "--out", out)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stdout)
	}
	during := load.nAcked.Load()
	load.waitAcked(during + 200) // the platform kept taking pushes during the backup
	load.halt()
	t.Logf("backup began with %d pushes acknowledged (journal backlog %.0f), %d by its end; it said:\n%s", len(before), backlog, during, stdout)
	if !strings.Contains(stdout, "the master key is NOT in the backup") {
		t.Errorf("backup does not say the master key is left out:\n%s", stdout)
	}
	if b, err := os.ReadFile(out); err != nil || strings.Contains(string(b), vault.EncodeKey(key)) {
		t.Fatalf("backup file: %v, or it contains the master key", err)
	}
	if left, _ := filepath.Glob(out + "*"); len(left) != 1 {
		t.Fatalf("backup left more than one file: %v", left)
	}
	if _, _, err := runCmd(t, "", nil, "backup", "--data", d.data, "--out", out); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second backup over the first: %v, want a refusal", err)
	}

	// Restoring over the running demo is refused.
	if _, _, err := runCmd(t, "", nil, "restore", "--from", out, "--data", d.data); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore over a running platform: %v, want a refusal", err)
	}
	// A data directory whose master.key is another key is refused.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "master.key"), []byte(vault.EncodeKey(vault.GenerateKey())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "", nil, "restore", "--from", out, "--data", other); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("restore with another master key: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(other, "wxfleet.db")); err == nil {
		t.Fatal("the refused restore left a database behind")
	}
	// A file that is no wxfleet database is refused.
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte("not a database at all, just text"), 0o600)
	if _, _, err := runCmd(t, "", nil, "restore", "--from", junk, "--data", t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a SQLite database") {
		t.Fatalf("restore of a text file: %v", err)
	}

	// Restore into a fresh directory and start the platform on it.
	d.Close()
	fresh := t.TempDir()
	stdout, _, err = runCmd(t, "", nil, "restore", "--from", out, "--data", fresh)
	if err != nil || !strings.Contains(stdout, "put back the master.key") {
		t.Fatalf("restore: %v\n%s", err, stdout)
	}
	// Restoring again moves the first restore aside.
	stdout, _, err = runCmd(t, "", nil, "restore", "--from", out, "--data", fresh)
	if err != nil || !strings.Contains(stdout, "before-restore-") {
		t.Fatalf("second restore: %v\n%s", err, stdout)
	}
	r := bootDemoWith(t, func(o *demoOptions) { o.Data, o.MasterKey = fresh, key })
	stored := storedMsgIDs(t, r.Platform.URL(), r.AdminToken)
	if n := missing(before, stored); n > 0 {
		t.Fatalf("%d of the %d pushes acknowledged before the backup are missing from the restored database (%d stored)", n, len(before), len(stored))
	}
	t.Logf("restored: %d pushes stored, all %d acknowledged before the backup among them", len(stored), len(before))
}

// stalledTarget is a database the ingest journal cannot apply to until
// release is closed: every push it acknowledges stays in the journal only.
type stalledTarget struct {
	*store.Store
	release chan struct{}
}

func (s stalledTarget) AddEvents(ctx context.Context, evs []*wxfleet.Event) error {
	select {
	case <-s.release:
		return s.Store.AddEvents(ctx, evs)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pushes acknowledged while the journal had not moved them into the
// database are in the backup: it applies the journal's segments to its copy.
func TestBackupIncludesTheIngestJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "wxfleet.db")
	st := storetest.Migrated(t, path, storetest.NewVault(t))
	p := demoPlatform
	if err := st.UpsertPlatform(ctx, &p); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	j, err := ingest.Open(ctx, stalledTarget{st, release}, ingest.Options{Path: path + "-ingest", Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	now := time.Now()
	for i := range n {
		ev := &wxfleet.Event{ComponentAppID: p.AppID, AppID: "wxjournalapp0001", Type: "text", DedupKey: fmt.Sprint("msg-", i),
			CreateTime: now, ReceivedAt: now, Payload: []byte(fmt.Sprintf("<xml><MsgId>%d</MsgId></xml>", i))}
		if _, err := j.Record(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if stored, _ := st.CountEvents(ctx); stored != 0 {
		t.Fatalf("%d events reached the database past the stalled applier", stored)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	stdout, _, err := runCmd(t, "", nil, "backup", "--database", path, "--out", out)
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, fmt.Sprintf("pushes: %d (%d of them from", n, n)) {
		t.Errorf("backup report:\n%s\nwant all %d pushes from the journal", stdout, n)
	}
	copyDB := storetest.Open(t, out, storetest.NewVault(t))
	if got, err := copyDB.CountEvents(ctx); err != nil || got != n {
		t.Fatalf("the backup holds %d events (%v), want %d", got, err, n)
	}
	close(release)
	if err := j.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The live journal is untouched by the backup and applies as usual.
	if got, _ := st.CountEvents(ctx); got != n {
		t.Fatalf("after the journal closed, the live database has %d events, want %d", got, n)
	}
}
