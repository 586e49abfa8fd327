package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

// rotateApps is how many authorizers the rotation test seals tokens for.
const rotateApps = 40

func rotateAppID(i int) string { return fmt.Sprintf("wxrotate%08d", i) }

// seedSecrets fills the database at dsn with the crash platform and
// rotateApps authorizers whose tokens are sealed with key.
func seedSecrets(t *testing.T, dsn string, key []byte) {
	t.Helper()
	ctx := context.Background()
	v, _ := vault.New(key)
	st, err := store.Open(ctx, dsn, v, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.CheckVaultKey(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: crashPlatform.appID, Name: "crash", Secret: wxfleet.Secret(crashPlatform.secret),
		Token: wxfleet.Secret(crashPlatform.token), AESKey: wxfleet.Secret(crashPlatform.aesKey)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range rotateApps {
		if err := st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: crashPlatform.appID, AppID: rotateAppID(i), Status: wxfleet.StatusAuthorized,
			IsMiniProgram: true, AccessToken: wxfleet.Secret(fmt.Sprintf("access-token-%d", i)), TokenExpiresAt: now.Add(3 * time.Hour),
			RefreshToken: wxfleet.Secret(fmt.Sprintf("refresh-token-%d", i)), AuthorizedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
}

// checkTokensServed asks the platform at p for every authorizer's access
// token: each must be the one seeded (the platform opened it).
func checkTokensServed(t *testing.T, p *serveProcess, when string) {
	t.Helper()
	for i := range rotateApps {
		req, _ := http.NewRequest("GET", p.url+"/api/v1/authorizers/"+rotateAppID(i)+"/access-token", nil)
		req.Header.Set("Authorization", "Bearer crash-admin-token-of-at-least-32-chars")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		var body struct {
			AccessToken string `json:"access_token"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		json.Unmarshal(b, &body)
		if resp.StatusCode != 200 || body.AccessToken != fmt.Sprintf("access-token-%d", i) {
			t.Fatalf("%s: access token of app %d: %d %s", when, i, resp.StatusCode, b)
		}
	}
}

// stopServe ends a serve process with SIGTERM and waits for it.
func stopServe(t *testing.T, p *serveProcess) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM:\n%s", p.output())
	}
}

// `wxfleet rotate-key` killed with SIGKILL in the middle leaves the
// secrets half under each key: the platform, given both keys, still opens
// every one (and with the new key alone refuses to start, saying why). Run
// again, the rotation goes on from where it stopped to the end; a third run
// has nothing to do. Then every secret opens with the new key alone and the
// platform, started with it, serves every token. SQLite: serve is stopped
// while rotate-key runs, and DATA/master.key ends up holding the new key.
// PostgreSQL: a serve instance holding both keys runs throughout.
func TestRotateKeySurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts wxfleet several times")
	}
	// In parallel: it mostly waits for its child processes (under -race
	// 29 s of wall clock for 5 s of CPU).
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			dir := t.TempDir()
			oldKey, newKey := vault.GenerateKey(), vault.GenerateKey()
			oldText, newText := vault.EncodeKey(oldKey), vault.EncodeKey(newKey)
			dsn := filepath.Join(dir, "wxfleet.db")
			var dbEnv []string
			if db == "postgres" {
				dsn = postgresDSN(t)
				dbEnv = []string{"WXFLEET_DATABASE=" + dsn}
			} else if err := os.WriteFile(filepath.Join(dir, "master.key"), []byte(oldText+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			seedSecrets(t, dsn, oldKey)
			bothKeys := append([]string{"WXFLEET_MASTER_KEY=" + newText, "WXFLEET_MASTER_KEY_OLD=" + oldText}, dbEnv...)

			var during *serveProcess
			if db == "postgres" {
				during = startServeWith(t, dir, "http://127.0.0.1:1", bothKeys...)
				checkTokensServed(t, during, "before the rotation, serve holding both keys")
			}

			// The first run, killed after some batches.
			rotEnv := append([]string{"WXFLEET_MASTER_KEY=" + newText}, dbEnv...)
			if db == "postgres" {
				rotEnv = append(rotEnv, "WXFLEET_MASTER_KEY_OLD="+oldText)
			}
			cmd := exec.Command(os.Args[0], "rotate-key", "--data", dir, "--batch", "3", "--settle", "0s")
			cmd.Env = append(append(os.Environ(), rotEnv...), "WXFLEET_TEST_RUN_MAIN=1", "WXFLEET_TEST_ROTATE_PAUSE=40ms")
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			total := regexp.MustCompile(`^resealed \d+ in authorizers\.\S+ \(total (\d+)\)`)
			sc := bufio.NewScanner(stdout)
			var seen []string
			killed := false
			for sc.Scan() {
				seen = append(seen, sc.Text())
				if m := total.FindStringSubmatch(sc.Text()); m != nil {
					if n, _ := strconv.Atoi(m[1]); n >= 20 {
						cmd.Process.Signal(syscall.SIGKILL)
						killed = true
						break
					}
				}
			}
			go io.Copy(io.Discard, stdout)
			werr := cmd.Wait()
			if !killed {
				t.Fatalf("rotate-key ended before it could be killed (%v):\n%s\n%s", werr, strings.Join(seen, "\n"), stderr.String())
			}

			// Half way: some values under each key, the rotation recorded.
			ring, _ := vault.NewRing(newKey, oldKey)
			st, err := store.Open(context.Background(), dsn, ring, nil)
			if err != nil {
				t.Fatal(err)
			}
			newFP := ring.Fingerprint()
			left, err := st.CountNotSealedWith(context.Background(), newFP)
			r, rerr := st.KeyRotation(context.Background())
			st.Close()
			if err != nil || rerr != nil || r == nil || left == 0 || left >= 2*rotateApps {
				t.Fatalf("after the kill: %d values not under the new key (of %d tokens), rotation %+v (%v, %v); want a rotation half done",
					left, 2*rotateApps, r, err, rerr)
			}
			t.Logf("killed with %d values still under the old key (rotation at %s, %d re-sealed)", left, r.Column, r.Resealed)

			// The new key alone is refused while the rotation is under way.
			newOnly := platformEnv(map[string]string{"WXFLEET_MASTER_KEY": newText, "WXFLEET_DATABASE": dsn})
			if _, _, err := runCmd(t, "", newOnly, "serve", "--addr", "127.0.0.1:0", "--data", dir, "--wechat-url", "http://127.0.0.1:1"); err == nil ||
				!strings.Contains(err.Error(), "WXFLEET_MASTER_KEY_OLD") {
				t.Fatalf("serve with the new key alone mid-rotation: %v", err)
			}
			// With both keys every token is served.
			if db == "sqlite" {
				during = startServeWith(t, dir, "http://127.0.0.1:1", bothKeys...)
			}
			checkTokensServed(t, during, "mid-rotation, serve holding both keys")
			if db == "sqlite" {
				if _, _, err := runCmd(t, "", map[string]string{"WXFLEET_MASTER_KEY": newText}, "rotate-key", "--data", dir); err == nil || !strings.Contains(err.Error(), "in use") {
					t.Fatalf("rotate-key while serve runs on SQLite: %v", err)
				}
				stopServe(t, during)
			}

			// Run again: it resumes and finishes.
			again := map[string]string{"WXFLEET_MASTER_KEY": newText}
			if db == "postgres" {
				again["WXFLEET_MASTER_KEY_OLD"], again["WXFLEET_DATABASE"] = oldText, dsn
			}
			out, errOut, err := runCmd(t, "", again, "rotate-key", "--data", dir, "--batch", "7", "--settle", "6s")
			if err != nil || !strings.Contains(out, "rotation complete") {
				t.Fatalf("second run: %v\n%s\n%s", err, out, errOut)
			}
			if db == "postgres" {
				checkTokensServed(t, during, "after the rotation, serve holding both keys")
			}
			out, _, err = runCmd(t, "", again, "rotate-key", "--data", dir)
			if err != nil || !strings.Contains(out, "nothing to do") {
				t.Fatalf("third run: %v\n%s", err, out)
			}

			// Every secret opens with the new key alone.
			only, _ := vault.New(newKey)
			st, err = store.Open(context.Background(), dsn, only, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			if err := st.CheckVaultKey(ctx, time.Now()); err != nil {
				t.Fatal(err)
			}
			if left, err := st.CountNotSealedWith(ctx, newFP); err != nil || left != 0 {
				t.Fatalf("%d values not under the new key after the rotation (%v)", left, err)
			}
			for i := range rotateApps {
				a, err := st.Authorizer(ctx, crashPlatform.appID, rotateAppID(i))
				if err != nil || a.AccessToken.Reveal() != fmt.Sprintf("access-token-%d", i) || a.RefreshToken.Reveal() != fmt.Sprintf("refresh-token-%d", i) {
					t.Fatalf("app %d with the new key alone: %v", i, err)
				}
			}
			if p, err := st.Platform(ctx, crashPlatform.appID); err != nil || p.Secret.Reveal() != crashPlatform.secret {
				t.Fatalf("platform secret with the new key alone: %v", err)
			}

			// The platform, with the new key alone, serves.
			var after *serveProcess
			if db == "sqlite" {
				// No WXFLEET_MASTER_KEY: DATA/master.key now holds the new key.
				if k, err := vault.LoadKey(filepath.Join(dir, "master.key"), false); err != nil || string(k) != string(newKey) {
					t.Fatalf("DATA/master.key after the rotation: %v", err)
				}
				if aside, _ := filepath.Glob(filepath.Join(dir, "master.key.rotated-*")); len(aside) != 1 {
					t.Fatalf("the old key file was not kept aside: %v", aside)
				}
				after = startServeWith(t, dir, "http://127.0.0.1:1")
			} else {
				stopServe(t, during)
				after = startServeWith(t, dir, "http://127.0.0.1:1", "WXFLEET_MASTER_KEY="+newText, "WXFLEET_DATABASE="+dsn)
			}
			checkTokensServed(t, after, "after the rotation, serve with the new key alone")
			stopServe(t, after)
		})
	}
}
