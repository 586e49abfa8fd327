package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

// runRotateKey re-seals every secret under a new master key: the new key is
// WXFLEET_MASTER_KEY, the old one WXFLEET_MASTER_KEY_OLD (on SQLite, by
// default, DATA/master.key). The progress is kept in the database, a few
// rows per transaction (store.KeyRotation), so an interrupted run is taken
// up where it stopped by running the command again, and a run after the end
// finds nothing to do. On PostgreSQL the instances keep serving meanwhile,
// provided each holds both keys; on SQLite serve must be stopped (one
// instance: a restart with both keys would be the same interruption).
func runRotateKey(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	c := newCmdSettings("rotate-key", "rotate-key", e, stderr)
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("rotate-key: unexpected argument %q", c.fs.Arg(0))
	}
	s, err := platformSettings(c)
	if err != nil {
		return err
	}
	bv, _ := c.get("batch")
	batch, err := strconv.Atoi(bv)
	if err != nil || batch < 1 || batch > 10_000 {
		return fmt.Errorf("rotate-key --batch %q: rows per transaction, 1 to 10000", bv)
	}
	sv, _ := c.get("settle")
	settle, err := time.ParseDuration(sv)
	if err != nil || settle < 0 {
		return fmt.Errorf("rotate-key --settle %q: a duration such as 15s", sv)
	}
	pause, err := testPause(e)
	if err != nil {
		return err
	}
	logger, err := newLogger(e, stderr)
	if err != nil {
		return err
	}
	newText, err := e.get("MASTER_KEY")
	if err != nil {
		return err
	}
	if newText == "" {
		return errors.New("rotate-key: 请用 WXFLEET_MASTER_KEY（或 _FILE）给出新主密钥（wxfleet keygen 生成），旧密钥用 WXFLEET_MASTER_KEY_OLD / " +
			"give the new master key as WXFLEET_MASTER_KEY (or _FILE; make one with wxfleet keygen) and the old one as WXFLEET_MASTER_KEY_OLD")
	}
	newKey, err := vault.ParseKey(newText)
	if err != nil {
		return fmt.Errorf("WXFLEET_MASTER_KEY: %w", err)
	}
	oldKey, err := oldMasterKey(e)
	if err != nil {
		return err
	}
	// On SQLite the old key is, by default, the key file serve made; the
	// file then gets the new key once the rotation is over.
	keyFile := ""
	if oldKey == nil && !isPostgres(s.database) {
		path := filepath.Join(s.data, "master.key")
		if _, err := os.Stat(path); err == nil {
			if oldKey, err = vault.LoadKey(path, false); err != nil {
				return err
			}
			keyFile = path
		}
	}
	keys := [][]byte{newKey}
	if oldKey != nil {
		keys = append(keys, oldKey)
	}
	v, err := vault.NewRing(keys...)
	if err != nil {
		return err
	}
	newFP := v.Fingerprint()
	if !isPostgres(s.database) {
		path, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(s.database, "sqlite://"), "sqlite:"), "?")
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("rotate-key: 没有数据库 %s（--data 或 --database 是否正确？） / no database at %s (check --data or --database): %w", path, path, err)
		}
		busy, err := store.SQLiteInUse(ctx, path)
		if err != nil {
			return err
		}
		if busy {
			return fmt.Errorf("rotate-key: 数据库 %s 正在使用中：SQLite 上请先停止 wxfleet 再轮换 / the database %s is in use: on SQLite stop wxfleet before rotating the key", path, path)
		}
	}
	st, err := store.Open(ctx, s.database, v, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	if err := st.CheckVaultKey(ctx, time.Now()); err != nil {
		return err
	}
	if c.bool("status") {
		return rotationStatus(ctx, st, newFP, stdout)
	}
	ctx, release, err := holdRotationLease(ctx, st, stdout)
	if err != nil {
		return err
	}
	defer release()
	r, err := st.BeginKeyRotation(ctx, newFP, time.Now())
	if err != nil {
		return err
	}
	if r == nil {
		fmt.Fprintf(stdout, "无需轮换：每个密钥都已由指纹为 %s 的主密钥加密 / nothing to do: every secret is sealed with the master key of fingerprint %s\n",
			store.ShortFingerprint(newFP), store.ShortFingerprint(newFP))
		return replaceKeyFile(keyFile, newKey, stdout)
	}
	fmt.Fprintf(stdout, "轮换主密钥 / rotating the master key: %s → %s (进度保存在数据库中，中断后再次运行即可继续 / progress is kept in the database: if interrupted, run again to resume)\n",
		store.ShortFingerprint(r.From), store.ShortFingerprint(r.To))
	for !r.Walked() {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("rotate-key: 已中断，再次运行以继续 / interrupted: run again to resume (%w)", err)
		}
		column := r.Column
		n, err := st.ResealBatch(ctx, r, batch, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "resealed %d in %s (total %d)\n", n, column, r.Resealed)
		if pause > 0 {
			time.Sleep(pause)
		}
	}
	// Instances with both keys switch to the new one within a poll
	// (server.vaultKeyPoll); what they sealed with the old one before that
	// is swept up after.
	if wait := time.Until(time.UnixMilli(r.StartedAt).Add(settle)); wait > 0 {
		fmt.Fprintf(stdout, "waiting %s for the other instances to seal with the new key\n", wait.Round(time.Second))
		select {
		case <-ctx.Done():
			return fmt.Errorf("rotate-key: 已中断，再次运行以继续 / interrupted: run again to resume (%w)", ctx.Err())
		case <-time.After(wait):
		}
	}
	n, err := st.SweepKeyRotation(ctx, r, batch, time.Now())
	if err != nil {
		return err
	}
	if err := st.FinishKeyRotation(ctx, r); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "轮换完成 / rotation complete: %d values re-sealed (%d in the final sweep); every secret is now sealed with the master key of fingerprint %s.\n",
		r.Resealed, n, store.ShortFingerprint(r.To))
	if err := replaceKeyFile(keyFile, newKey, stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "下一步 / next: 只用新密钥重启各实例（去掉 WXFLEET_MASTER_KEY_OLD），然后销毁旧密钥及其备份 / restart the instances with the new key alone (drop WXFLEET_MASTER_KEY_OLD), then destroy the old key and its copies.")
	return nil
}

// oldMasterKey reads WXFLEET_MASTER_KEY_OLD, nil when unset.
func oldMasterKey(e *env) ([]byte, error) {
	v, err := e.get("MASTER_KEY_OLD")
	if err != nil || v == "" {
		return nil, err
	}
	k, err := vault.ParseKey(v)
	if err != nil {
		return nil, fmt.Errorf("WXFLEET_MASTER_KEY_OLD: %w", err)
	}
	return k, nil
}

// replaceKeyFile puts the new key in DATA/master.key when the old key came
// from there, keeping the old file beside it, so that serve starts with the
// new key as before, without WXFLEET_MASTER_KEY. Nothing when path is "" or
// already holds the new key.
func replaceKeyFile(path string, key []byte, stdout io.Writer) error {
	if path == "" {
		return nil
	}
	if cur, err := vault.LoadKey(path, false); err == nil && string(cur) == string(key) {
		return nil
	}
	tmp := path + ".new"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(vault.EncodeKey(key) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	aside := path + ".rotated-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(path, aside); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	fmt.Fprintf(stdout, "%s 现为新密钥，旧密钥移到 %s（确认无误后销毁） / %s now holds the new key; the old one moved to %s (destroy it once all is well)\n", path, aside, path, aside)
	return nil
}

// rotationStatus prints the rotation under way, if any, and how many values
// are not yet under the new key.
func rotationStatus(ctx context.Context, st *store.Store, newFP string, stdout io.Writer) error {
	r, err := st.KeyRotation(ctx)
	if err != nil {
		return err
	}
	left, err := st.CountNotSealedWith(ctx, newFP)
	if err != nil {
		return err
	}
	if r == nil {
		fmt.Fprintf(stdout, "no rotation under way; %d sealed values not under the key of fingerprint %s\n", left, store.ShortFingerprint(newFP))
		return nil
	}
	at := r.Column
	if r.Walked() {
		at = "(final sweep)"
	}
	fmt.Fprintf(stdout, "rotation %s → %s started %s: %d re-sealed, at %s, %d values left\n",
		store.ShortFingerprint(r.From), store.ShortFingerprint(r.To), time.UnixMilli(r.StartedAt).UTC().Format(time.RFC3339), r.Resealed, at, left)
	return nil
}

// testPause reads WXFLEET_TEST_ROTATE_PAUSE, a pause after each batch that
// lets the crash test kill the command in the middle.
func testPause(e *env) (time.Duration, error) {
	v, err := e.get("TEST_ROTATE_PAUSE")
	if err != nil || v == "" {
		return 0, err
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("WXFLEET_TEST_ROTATE_PAUSE %q: a duration", v)
	}
	return d, nil
}

// rotationLease keeps rotate-key to one run at a time across machines; a
// killed run's lease lapses after rotationLeaseTTL.
const (
	rotationLease    = "master_key_rotation"
	rotationLeaseTTL = 10 * time.Second
)

// holdRotationLease waits for the rotation lease, keeps it renewed until
// release, and returns a context that ends if the lease is lost.
func holdRotationLease(ctx context.Context, st *store.Store, stdout io.Writer) (context.Context, func(), error) {
	owner := randomToken()
	said := false
	for {
		ok, err := st.AcquireLease(ctx, rotationLease, owner, rotationLeaseTTL, time.Now())
		if err != nil {
			return nil, nil, err
		}
		if ok {
			break
		}
		if !said {
			fmt.Fprintf(stdout, "另一个 rotate-key 正在运行（或刚被中断，%s 内其租约过期），等待中 / another rotate-key is running (or was just interrupted: its lease lapses within %s); waiting\n",
				rotationLeaseTTL, rotationLeaseTTL)
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(rotationLeaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if ok, err := st.AcquireLease(ctx, rotationLease, owner, rotationLeaseTTL, time.Now()); err != nil || !ok {
				cancel(fmt.Errorf("lost the rotation lease (%v): run again to resume", err))
				return
			}
		}
	}()
	return ctx, func() {
		close(done)
		cancel(nil)
		st.ReleaseLease(context.Background(), rotationLease, owner)
	}, nil
}
