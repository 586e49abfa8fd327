package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

// A backup is one SQLite file holding every push acknowledged before the
// backup began, although some of those may still be in the ingest journal
// (wxfleet.db-ingest.NNNNNN.log) rather than the database: an acknowledgement
// only waits for the journal. The serving process owns the journal, so the
// backup cannot ask it to catch up; it copies the journal's segments first
// and snapshots the database second. A push acknowledged before the backup
// began is then in a copied segment, or its segment was applied and deleted
// before the copy, in which case it is in the database before the snapshot.
// The backup applies the copied segments to the snapshot (skipping what it
// already has, by dedup key), so restoring needs nothing but the file.

// sqliteTarget resolves --data and --database to a SQLite file path and the
// data directory, refusing PostgreSQL with a pointer to its own tools.
func sqliteTarget(c *cmdSettings, tool string) (path, data string, err error) {
	if data, err = c.get("data"); err != nil {
		return "", "", err
	}
	db, err := c.get("database")
	if err != nil {
		return "", "", err
	}
	fs := c.fs
	if isPostgres(db) {
		return "", "", fmt.Errorf("%s 只用于 SQLite；PostgreSQL 请用 %s（见 docs/operations.md） / %s is for SQLite; for PostgreSQL use %s (see docs/operations.md)",
			fs.Name(), tool, fs.Name(), tool)
	}
	if db == "" {
		db = filepath.Join(data, "wxfleet.db")
	}
	if rest, ok := strings.CutPrefix(db, "sqlite://"); ok {
		db = rest
	} else if rest, ok := strings.CutPrefix(db, "sqlite:"); ok {
		db = rest
	}
	db, _, _ = strings.Cut(db, "?")
	return db, data, nil
}

// journalSegments lists the ingest journal's segments of the database at
// path (push.OpenIngest keeps them at path + "-ingest.NNNNNN.log").
func journalSegments(path string) ([]string, error) {
	return filepath.Glob(path + "-ingest.[0-9]*.log")
}

func runBackup(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	c := newCmdSettings("backup", "backup", e, stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("backup: unexpected argument %q", c.fs.Arg(0))
	}
	src, _, err := sqliteTarget(c, "pg_dump")
	if err != nil {
		return err
	}
	o, _ := c.get("out")
	out := &o
	if *out == "" {
		return errors.New("backup: --out FILE is required")
	}
	if _, err := os.Lstat(*out); err == nil {
		return fmt.Errorf("backup: %s exists: choose a new file name", *out)
	}
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(*out), ".wxfleet-backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	copyPath := filepath.Join(tmp, "wxfleet.db")
	segs, err := copySegments(src, copyPath)
	if err != nil {
		return err
	}
	if err := store.SnapshotSQLite(ctx, src, copyPath); err != nil {
		return err
	}
	rep, err := applyJournal(ctx, copyPath, logger)
	if err != nil {
		return err
	}
	if err := store.FinishSQLiteFile(ctx, copyPath); err != nil {
		return err
	}
	if err := syncFile(copyPath); err != nil {
		return err
	}
	if err := os.Rename(copyPath, *out); err != nil {
		return err
	}
	syncDir(filepath.Dir(*out))
	st, _ := os.Stat(*out)
	fmt.Fprintf(stdout, "备份完成 / backup written: %s (%.1f MiB)\n", *out, float64(st.Size())/(1<<20))
	fmt.Fprintf(stdout, "  来源 source: %s\n  推送 pushes: %d (%d of them from %d ingest journal segments)\n  结构版本 schema: wxfleet %d\n",
		src, rep.events, rep.fromJournal, segs, rep.schema)
	fmt.Fprintf(stdout, "主密钥不在备份中 / the master key is NOT in the backup: keep master.key (or WXFLEET_MASTER_KEY) in a safe place of its own; "+
		"the backup's secrets open only with the key of fingerprint %s.\n", store.ShortFingerprint(rep.fingerprint))
	return nil
}

// copySegments copies the journal segments of src next to dst, under dst's
// name, and returns how many it copied. A segment gone meanwhile was
// applied, so its pushes are in the database the snapshot will see.
func copySegments(src, dst string) (int, error) {
	segs, err := journalSegments(src)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, seg := range segs {
		b, err := os.ReadFile(seg)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("backup: reading journal segment: %w", err)
		}
		name := dst + strings.TrimPrefix(seg, src)
		if err := os.WriteFile(name, b, 0o600); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

type backupReport struct {
	events, fromJournal int64
	schema              int64
	fingerprint         string
}

// applyJournal opens the snapshot at path as wxfleet would, which replays the
// journal segments next to it, and reports what it holds. Replaying seals
// and opens nothing, so a throwaway key does.
func applyJournal(ctx context.Context, path string, logger *slog.Logger) (backupReport, error) {
	var rep backupReport
	st, err := openKeyless(ctx, path, logger)
	if err != nil {
		return rep, err
	}
	defer st.Close()
	before, err := st.CountEvents(ctx)
	if err != nil {
		return rep, err
	}
	in, err := push.OpenIngest(ctx, st, push.IngestOptions{Now: time.Now, Logger: logger})
	if err != nil {
		return rep, fmt.Errorf("backup: applying the ingest journal to the copy: %w", err)
	}
	if err := in.Close(ctx); err != nil {
		return rep, err
	}
	if left, _ := journalSegments(path); len(left) > 0 {
		return rep, fmt.Errorf("backup: journal segments left after applying them: %v", left)
	}
	if rep.events, err = st.CountEvents(ctx); err != nil {
		return rep, err
	}
	rep.fromJournal = rep.events - before
	if rep.fingerprint, err = st.KeyFingerprint(ctx); err != nil {
		return rep, err
	}
	schema, err := st.Schema(ctx)
	if err != nil {
		return rep, err
	}
	rep.schema = store.Current(schema.Migrations)
	return rep, nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir makes a rename in dir durable (best effort: not every system can).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// openKeyless opens the SQLite copy at path with a throwaway key: what
// backup and restore do to it (replay the journal, read the schema and the
// key's fingerprint) opens no sealed value.
func openKeyless(ctx context.Context, path string, logger *slog.Logger) (*store.Store, error) {
	v, err := vault.New(vault.GenerateKey())
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, path, v, logger)
}
