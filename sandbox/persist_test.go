package sandbox

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// storedState reads the state database as a restart would, while the sandbox
// still runs: what it shows is what a crash right now would keep.
func storedState(t *testing.T, dir string) *state {
	t.Helper()
	key, err := stateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	seal, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openStateDB(filepath.Join(dir, dbFile), seal)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	st := newState()
	if _, err := db.load(st.loadRow); err != nil {
		t.Fatal(err)
	}
	st.finishLoad()
	return st
}

// An answered refresh is committed before the answer: the rotated refresh
// token is in the database the moment the platform has it.
func TestAnsweredRefreshIsCommitted(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	redirect, _ := e.authorize(tok, AppBakery, nil)
	info := e.queryAuth(tok, redirect.Query().Get("auth_code"))
	refresh := str(info, "authorizer_refresh_token")
	for range 3 {
		out := e.wx("/cgi-bin/component/api_authorizer_token?component_access_token="+tok, map[string]string{
			"component_appid": testComponent, "authorizer_appid": AppBakery, "authorizer_refresh_token": refresh})
		wantErr(t, out, 0)
		refresh = str(out, "authorizer_refresh_token")
		stored := storedState(t, e.dir).Components[testComponent].Authorizations[AppBakery]
		if stored == nil || stored.RefreshToken != refresh {
			t.Fatalf("stored authorization %+v, want refresh token %q", stored, refresh)
		}
		last := stored.AccessTokens[len(stored.AccessTokens)-1]
		if last.Value != str(out, "authorizer_access_token") {
			t.Fatalf("stored access token %q, answered %q", last.Value, str(out, "authorizer_access_token"))
		}
	}
	// The database shows no credential in clear text, WAL included.
	for _, name := range []string{dbFile, dbFile + "-wal"} {
		b, err := os.ReadFile(filepath.Join(e.dir, name))
		if err == nil && bytes.Contains(b, []byte(refresh)) {
			t.Errorf("%s contains the refresh token in plain text", name)
		}
	}
}

// Superseded tokens past their grace leave the state and the token index:
// at fleet scale they would otherwise pile up with every refresh.
func TestSupersededTokensAreForgotten(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	redirect, _ := e.authorize(tok, AppBakery, nil)
	info := e.queryAuth(tok, redirect.Query().Get("auth_code"))
	refresh := str(info, "authorizer_refresh_token")
	first := str(info, "authorizer_access_token")
	for range 5 {
		e.advance("6m") // past the grace of the previous token
		tok = e.componentToken()
		out := e.wx("/cgi-bin/component/api_authorizer_token?component_access_token="+tok, map[string]string{
			"component_appid": testComponent, "authorizer_appid": AppBakery, "authorizer_refresh_token": refresh})
		wantErr(t, out, 0)
		refresh = str(out, "authorizer_refresh_token")
	}
	e.sb.mu.Lock()
	n, tokens := len(e.sb.st.Components[testComponent].Authorizations[AppBakery].AccessTokens), len(e.sb.st.tokens)
	e.sb.mu.Unlock()
	if n > 2 || tokens > 2 {
		t.Errorf("after 5 refreshes the authorization keeps %d tokens and the index %d, want at most 2", n, tokens)
	}
	// A forgotten token answers as a superseded one did: 40001.
	wantErr(t, e.wx("/cgi-bin/message/custom/send?access_token="+first, customText("o", "x")), 40001)
}

// A sandbox.json of an earlier version is imported on first start, then
// renamed; its authorizations, tokens and clock carry over.
func TestImportsLegacyStateFile(t *testing.T) {
	dir := t.TempDir()
	key, err := stateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	seal := must(newSealer(key))
	now := time.Now().UTC().Round(0)
	old := legacyState{
		ClockOffset: 10 * time.Minute,
		NextMsgID:   7300000000000000042,
		Accounts:    seedAccounts(),
		Components: map[string]*legacyComponentState{testComponent: {
			Tickets:   []issued{{Value: "ticket@@@old", IssuedAt: now}},
			Tokens:    []credential{{Value: "component-token-old", IssuedAt: now}},
			AuthCodes: []authCode{{Value: "queryauthcode@@@old", AppID: AppNoodles, IssuedAt: now}},
			Authorizations: map[string]*authorization{AppNoodles: {AppID: AppNoodles, Authorized: true, FuncInfo: []int{17, 19},
				AuthorizedAt: now, RefreshToken: "refreshtoken@@@old", AccessTokens: []credential{{Value: "access-old", IssuedAt: now}}}},
		}},
		Users: map[string]*appUsers{AppNoodles: {Default: "oUser", Seen: map[string]time.Time{"oUser": now}}},
	}
	plain := must(json.Marshal(old))
	sealed := append([]byte(sealMagic), must(seal.seal(plain, []byte(sealMagic)))...)
	if err := os.WriteFile(filepath.Join(dir, legacyFile), sealed, 0o600); err != nil {
		t.Fatal(err)
	}

	plat := newFakePlatform(t)
	e := &testEnv{t: t, plat: plat, dir: dir, cfg: Config{DataDir: dir, PlatformURL: plat.srv.URL,
		Components: []Component{{AppID: testComponent, Secret: testSecret, Token: testToken, AESKey: testAESKey}},
		Now:        func() time.Time { return now.Add(time.Minute) }, Logger: slog.New(slog.DiscardHandler)}}
	e.start()
	if _, err := os.Stat(filepath.Join(dir, legacyFile)); !os.IsNotExist(err) {
		t.Errorf("%s still there after import: %v", legacyFile, err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyFile+".imported")); err != nil {
		t.Errorf("%s.imported: %v", legacyFile, err)
	}
	_, clock := e.do("GET", "/sandbox/api/clock", nil)
	if str(clock, "offset") != "10m0s" {
		t.Errorf("clock after import = %v", clock)
	}
	_, app := e.do("GET", "/sandbox/api/apps/"+AppNoodles, nil)
	if app["authorized"] != true || str(app, "authorizer_refresh_token") != "refreshtoken@@@old" || str(app, "default_openid") != "oUser" {
		t.Errorf("imported app = %v", app)
	}
	// The imported component token, code and refresh token still work (the
	// clock moved eleven minutes: all within their lifetimes).
	info := e.queryAuthWith("component-token-old", "queryauthcode@@@old")
	if str(info, "authorizer_appid") != AppNoodles {
		t.Errorf("exchange of the imported code = %v", info)
	}
	out := e.wx("/cgi-bin/component/api_authorizer_token?component_access_token=component-token-old", map[string]string{
		"component_appid": testComponent, "authorizer_appid": AppNoodles, "authorizer_refresh_token": "refreshtoken@@@old"})
	wantErr(t, out, 0)

	// A restart reads the database; the renamed file is left alone.
	e.restart()
	_, app = e.do("GET", "/sandbox/api/apps/"+AppNoodles, nil)
	if str(app, "authorizer_refresh_token") != str(out, "authorizer_refresh_token") {
		t.Errorf("after restart the refresh token is %q, want %q", str(app, "authorizer_refresh_token"), str(out, "authorizer_refresh_token"))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, dbFile)); bytes.Contains(b, []byte("refreshtoken@@@")) {
		t.Error("sandbox.db shows a refresh token in plain text")
	}
	if strings.Contains(string(must(os.ReadFile(filepath.Join(dir, dbFile)))), "queryauthcode@@@old") {
		t.Error("sandbox.db shows an authorization code in plain text")
	}
}

func (e *testEnv) queryAuthWith(tok, code string) map[string]any {
	e.t.Helper()
	out := e.wx("/cgi-bin/component/api_query_auth?component_access_token="+tok,
		map[string]string{"component_appid": testComponent, "authorization_code": code})
	wantErr(e.t, out, 0)
	info, _ := out["authorization_info"].(map[string]any)
	return info
}
