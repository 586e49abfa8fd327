package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

// runRestore puts a backup made by `wxfleet backup` in place of the SQLite
// database. It refuses while the database is in use and a file that is not a
// wxfleet database this binary can run; the database it replaces is kept
// beside it (wxfleet.db.before-restore-TIME, with its -wal and journal).
func runRestore(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	c := newCmdSettings("restore", "restore", e, stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("restore: unexpected argument %q", c.fs.Arg(0))
	}
	target, data, err := sqliteTarget(c, "pg_restore")
	if err != nil {
		return err
	}
	f, _ := c.get("from")
	from := &f
	if *from == "" {
		return errors.New("restore: --from FILE is required")
	}
	if err := store.IsSQLiteFile(*from); err != nil {
		return err
	}
	if same(*from, target) {
		return fmt.Errorf("restore: %s is the database itself", *from)
	}
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	if err := refuseInUse(ctx, target); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(target), ".wxfleet-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	copyPath := filepath.Join(tmp, "wxfleet.db")
	if err := copyFile(*from, copyPath); err != nil {
		return err
	}
	rep, err := inspectBackup(ctx, copyPath, logger)
	if err != nil {
		return fmt.Errorf("restore: %s: %w", *from, err)
	}
	if err := store.FinishSQLiteFile(ctx, copyPath); err != nil {
		return err
	}
	keyNote, err := checkRestoreKey(e, data, rep.fingerprint)
	if err != nil {
		return err
	}
	// Checked again: a server may have started meanwhile.
	if err := refuseInUse(ctx, target); err != nil {
		return err
	}
	aside, err := moveAside(target)
	if err != nil {
		return err
	}
	if err := syncFile(copyPath); err != nil {
		return err
	}
	if err := os.Rename(copyPath, target); err != nil {
		return err
	}
	syncDir(filepath.Dir(target))
	fmt.Fprintf(stdout, "恢复完成 / restored %s to %s: %d pushes, wxfleet schema %d (serve applies newer migrations at start)\n",
		*from, target, rep.events, rep.schema)
	if aside != "" {
		fmt.Fprintf(stdout, "  原数据库已移到 / the database it replaced is now %s\n", aside)
	}
	fmt.Fprintln(stdout, "  "+keyNote)
	return nil
}

func same(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

func refuseInUse(ctx context.Context, target string) error {
	busy, err := store.SQLiteInUse(ctx, target)
	if err != nil {
		return err
	}
	if busy {
		return fmt.Errorf("restore: 数据库 %s 正在使用中：先停止 wxfleet（systemctl stop wxfleet 或 docker compose stop）再恢复 / the database %s is in use: stop wxfleet first (systemctl stop wxfleet, docker compose stop)", target, target)
	}
	return nil
}

// inspectBackup checks that the file at path is a wxfleet database this
// binary can run and reports what it holds.
func inspectBackup(ctx context.Context, path string, logger *slog.Logger) (backupReport, error) {
	var rep backupReport
	st, err := openKeyless(ctx, path, logger)
	if err != nil {
		return rep, err
	}
	defer st.Close()
	schema, err := st.Schema(ctx)
	if err != nil {
		return rep, err
	}
	rep.schema = store.Current(schema.Migrations)
	if rep.schema == 0 {
		return rep, errors.New("不是 wxfleet 数据库（没有 wxfleet 的迁移记录） / not a wxfleet database (no wxfleet migration recorded)")
	}
	for _, l := range []struct {
		what string
		list []store.MigrationState
	}{{"wxfleet", schema.Migrations}, {"River", schema.River}} {
		for _, m := range l.list {
			if m.Unknown {
				return rep, &store.NewerSchemaError{What: l.what, Database: store.Current(l.list), Known: store.Latest(l.list)}
			}
		}
	}
	if rep.events, err = st.CountEvents(ctx); err != nil {
		return rep, err
	}
	if rep.fingerprint, err = st.KeyFingerprint(ctx); err != nil {
		return rep, err
	}
	return rep, nil
}

// checkRestoreKey compares the master key this installation would start
// with (WXFLEET_MASTER_KEY, else DATA/master.key) against the backup's
// fingerprint: restoring a database whose secrets the key cannot open would
// only fail at the next start. With no key at all it says which to put back.
func checkRestoreKey(e *env, data, fingerprint string) (string, error) {
	if fingerprint == "" {
		return "备份中没有主密钥指纹（尚无密钥记录） / the backup records no master key fingerprint yet", nil
	}
	want := store.ShortFingerprint(fingerprint)
	text, err := e.get("MASTER_KEY")
	if err != nil {
		return "", err
	}
	source := "WXFLEET_MASTER_KEY"
	var key []byte
	if text != "" {
		if key, err = vault.ParseKey(text); err != nil {
			return "", fmt.Errorf("WXFLEET_MASTER_KEY: %w", err)
		}
	} else {
		path := filepath.Join(data, "master.key")
		source = path
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return fmt.Sprintf("注意：没有找到主密钥，启动前请把指纹为 %s 的 master.key 放回 %s（或设置 WXFLEET_MASTER_KEY） / note: no master key here: before starting, put back the master.key of fingerprint %s as %s (or set WXFLEET_MASTER_KEY)",
				want, path, want, path), nil
		}
		if key, err = vault.LoadKey(path, false); err != nil {
			return "", err
		}
	}
	v, err := vault.New(key)
	if err != nil {
		return "", err
	}
	if v.Fingerprint() != fingerprint {
		return "", fmt.Errorf("restore: 主密钥不符：备份的密钥指纹为 %s，%s 的为 %s；用这个密钥启动将无法解密备份中的密钥。请先放回备份时的主密钥 / the master key does not match: the backup's secrets are sealed with key fingerprint %s, %s has %s, which could not open them. Put back the key the backup was made with first",
			want, source, store.ShortFingerprint(v.Fingerprint()), want, source, store.ShortFingerprint(v.Fingerprint()))
	}
	return fmt.Sprintf("主密钥匹配 / the master key (%s) matches the backup (fingerprint %s)", source, want), nil
}

// moveAside renames the database at target, its -wal and -shm files and its
// ingest journal to target.before-restore-TIME…, and returns that name ("" if
// there was no database).
func moveAside(target string) (string, error) {
	files, err := journalSegments(target)
	if err != nil {
		return "", err
	}
	for _, suffix := range []string{"-shm", "-wal", ""} {
		if _, err := os.Stat(target + suffix); err == nil {
			files = append(files, target+suffix)
		}
	}
	if len(files) == 0 {
		return "", nil
	}
	aside := target + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	for _, f := range files {
		if err := os.Rename(f, aside+f[len(target):]); err != nil {
			return "", fmt.Errorf("restore: moving the old database aside: %w", err)
		}
	}
	return aside, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
