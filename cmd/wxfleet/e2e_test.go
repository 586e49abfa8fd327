package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/web"
)

// syncBuffer collects the demo's log so tests can search it for secrets.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testDemo struct {
	*demo
	t    *testing.T
	data string
	log  *syncBuffer
}

// bootDemo starts the real demo — platform and sandbox — on loopback ports
// chosen by the kernel, with its data in a temp dir.
func bootDemo(t *testing.T) *testDemo { return bootDemoWith(t, nil) }

// bootDemoWith lets a test change the options (the database, the key).
func bootDemoWith(t *testing.T, change func(*demoOptions)) *testDemo {
	t.Helper()
	data := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	o := demoOptions{
		Addr: "127.0.0.1:0", SandboxAddr: "127.0.0.1:0", Data: data, Platform: demoPlatform,
		AdminToken: "test-admin-token", MasterKey: key, TicketInterval: 10 * time.Minute,
		JobPollInterval: 50 * time.Millisecond, Logger: logger,
	}
	if change != nil {
		change(&o)
	}
	d, err := startDemo(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	td := &testDemo{demo: d, t: t, data: data, log: logs}
	// The platform asks for a ticket at start; wait until it has one.
	td.eventually("a valid component_verify_ticket", func() bool {
		var out struct {
			Items []struct {
				TicketValid bool `json:"ticket_valid"`
			} `json:"items"`
		}
		td.api("GET", "/api/v1/platforms", nil, &out)
		return len(out.Items) == 1 && out.Items[0].TicketValid
	})
	return td
}

// testWriter sends log lines to t.Log only when -v, keeping failures readable.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (d *testDemo) eventually(what string, cond func() bool) {
	d.t.Helper()
	// A ceiling for real asynchronous work, not a timing assertion: under the
	// race detector on a loaded machine a rollout step takes many seconds.
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do sends a request and decodes a JSON answer into out; it returns the status.
func do(t *testing.T, method, url string, header map[string]string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: status %d, body %q: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func (d *testDemo) api(method, path string, body, out any) int {
	d.t.Helper()
	return do(d.t, method, d.Platform.URL()+path, map[string]string{"Authorization": "Bearer " + d.AdminToken}, body, out)
}

func (d *testDemo) sandbox(method, path string, body, out any) int {
	d.t.Helper()
	return do(d.t, method, d.SandboxURL+path, nil, body, out)
}

type sbApp struct {
	AppID    string `json:"appid"`
	Nickname string `json:"nickname"`
	IsMini   bool   `json:"is_mini_program"`
}

func (d *testDemo) miniPrograms() []sbApp {
	var apps struct {
		Items []sbApp `json:"items"`
	}
	d.sandbox("GET", "/sandbox/api/apps", nil, &apps)
	var out []sbApp
	for _, a := range apps.Items {
		if a.IsMini {
			out = append(out, a)
		}
	}
	if len(out) < 6 {
		d.t.Fatalf("sandbox seeds %d mini programs, want at least 6", len(out))
	}
	return out
}

type apiAuthorizer struct {
	AppID          string `json:"appid"`
	Nickname       string `json:"nickname"`
	Status         string `json:"status"`
	Permissions    []int  `json:"permissions"`
	TokenExpiresAt string `json:"token_expires_at"`
	TokenState     string `json:"token_state"`
	Merchant       string `json:"merchant"`
}

func (d *testDemo) authorizer(appid string) (apiAuthorizer, int) {
	var a apiAuthorizer
	status := d.api("GET", "/api/v1/authorizers/"+appid, nil, &a)
	return a, status
}

func TestDemoAuthorizesThroughBothFlows(t *testing.T) {
	authorizeThroughBothFlows(t, bootDemo(t))
}

func TestDemoOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	d := bootDemoWith(t, func(o *demoOptions) { o.Database = dsn })
	authorizeThroughBothFlows(t, d)
	releaseCheck(t, d)
}

func authorizeThroughBothFlows(t *testing.T, d *testDemo) {
	apps := d.miniPrograms()

	// Unauthenticated API calls are refused with a JSON error.
	var e web.ErrorBody
	if st := do(t, "GET", d.Platform.URL()+"/api/v1/authorizers", nil, nil, &e); st != 401 || e.Code != "unauthorized" || e.RequestID == "" {
		t.Fatalf("no token: status %d, %+v, want code unauthorized and a request_id", st, e)
	}

	// PC flow, browser redirect followed: the callback completes it.
	var link struct {
		PCURL string `json:"pc_url"`
		H5URL string `json:"h5_url"`
	}
	if st := d.api("POST", "/api/v1/authorization-links", map[string]any{"merchant": "m-1001"}, &link); st != 201 {
		t.Fatalf("authorization-links: %d", st)
	}
	if !strings.HasPrefix(link.PCURL, d.SandboxURL+"/cgi-bin/componentloginpage?") ||
		!strings.HasPrefix(link.H5URL, d.SandboxURL+"/wxaopen/safe/bindcomponent?") {
		t.Fatalf("links do not point at the sandbox: %+v", link)
	}
	var redir struct {
		RedirectURL string `json:"redirect_url"`
	}
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": apps[0].AppID}, &redir); st != 200 {
		t.Fatalf("sandbox authorize: %d", st)
	}
	resp, err := http.Get(redir.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), apps[0].Nickname) {
		t.Fatalf("callback page: %d %s", resp.StatusCode, page)
	}
	a, _ := d.authorizer(apps[0].AppID)
	if a.Status != "authorized" || len(a.Permissions) == 0 || a.TokenExpiresAt == "" || a.Merchant != "m-1001" || a.Nickname != apps[0].Nickname {
		t.Fatalf("after PC flow: %+v", a)
	}

	// H5 flow where the browser never comes back: the push alone completes it.
	var link2 struct {
		H5URL string `json:"h5_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{"merchant": "m-1002"}, &link2)
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link2.H5URL, "appid": apps[1].AppID}, &redir); st != 200 {
		t.Fatalf("sandbox authorize h5: %d", st)
	}
	d.eventually("the push to authorize "+apps[1].AppID, func() bool {
		a, st := d.authorizer(apps[1].AppID)
		return st == 200 && a.Status == "authorized" && a.Merchant == "m-1002" && a.TokenState == "valid"
	})
	// The late browser redirect finds the work done and still shows success.
	resp, err = http.Get(redir.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("late callback: %d", resp.StatusCode)
	}

	// The merchant authorizes again with fewer permission sets: WeChat sends
	// updateauthorized, the platform re-exchanges and overwrites.
	var link3 struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{}, &link3)
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link3.PCURL, "appid": apps[0].AppID, "func": []int{17, 18}}, &redir); st != 200 {
		t.Fatalf("re-authorize: %d", st)
	}
	d.eventually("updateauthorized to narrow the permissions", func() bool {
		a, _ := d.authorizer(apps[0].AppID)
		return a.Status == "authorized" && fmt.Sprint(a.Permissions) == "[17 18]" && a.Merchant == "m-1001"
	})
	var upd struct {
		Total int `json:"total"`
	}
	d.api("GET", "/api/v1/events?type=updateauthorized&appid="+apps[0].AppID, nil, &upd)
	if upd.Total != 1 {
		t.Fatalf("updateauthorized events: %d", upd.Total)
	}

	var list struct {
		Items []apiAuthorizer `json:"items"`
		Total int             `json:"total"`
	}
	d.api("GET", "/api/v1/authorizers", nil, &list)
	if list.Total != 2 || len(list.Items) != 2 {
		t.Fatalf("authorizers: %+v", list)
	}

	// Events: the tickets and both authorized pushes were recorded.
	var events struct {
		Items []struct {
			Type    string `json:"type"`
			AppID   string `json:"appid"`
			Payload string `json:"payload"`
		} `json:"items"`
		Total int `json:"total"`
	}
	d.api("GET", "/api/v1/events?type=authorized", nil, &events)
	if events.Total != 2 {
		t.Fatalf("authorized events: %+v", events)
	}
	for _, ev := range events.Items {
		if strings.Contains(ev.Payload, "queryauthcode@@@") {
			t.Errorf("stored event shows the authorization code: %s", ev.Payload)
		}
	}

	// The central token service hands out the token the sandbox issued.
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if st := d.api("GET", "/api/v1/authorizers/"+apps[0].AppID+"/access-token", nil, &tok); st != 200 || tok.AccessToken == "" || tok.ExpiresIn <= 0 {
		t.Fatalf("access-token: %d %+v", st, tok)
	}
	var sbState struct {
		Authorizations []struct {
			AccessToken  string `json:"authorizer_access_token"`
			RefreshToken string `json:"authorizer_refresh_token"`
		} `json:"authorizations"`
	}
	d.sandbox("GET", "/sandbox/api/apps/"+apps[0].AppID, nil, &sbState)
	if len(sbState.Authorizations) == 0 || sbState.Authorizations[0].AccessToken != tok.AccessToken {
		t.Fatalf("platform token %q is not the sandbox's current one: %+v", tok.AccessToken, sbState)
	}

	// Refresh tokens never rest in plaintext, nor reach the log.
	refresh := sbState.Authorizations[0].RefreshToken
	if refresh == "" {
		t.Fatal("sandbox shows no refresh token")
	}
	assertNotInDir(t, d.data, refresh)
	if strings.Contains(d.log.String(), refresh) {
		t.Error("the refresh token appears in the log")
	}
	if strings.Contains(d.log.String(), demoPlatform.Secret.Reveal()) {
		t.Error("the component secret appears in the log")
	}
}

// assertNotInDir fails if needle appears in any file under dir: the
// platform's database and also the sandbox's state (sealed too).
func assertNotInDir(t *testing.T, dir, needle string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, []byte(needle)) {
			t.Errorf("%s contains a secret in plaintext", path)
		}
		return nil
	})
}

func TestDemoTokensSurviveExpiryAndRevocation(t *testing.T) {
	d := bootDemo(t)
	apps := d.miniPrograms()
	var link struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{}, &link)
	var redir struct {
		RedirectURL string `json:"redirect_url"`
	}
	d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": apps[2].AppID}, &redir)
	d.eventually("authorized", func() bool {
		a, st := d.authorizer(apps[2].AppID)
		return st == 200 && a.Status == "authorized"
	})

	// WeChat's clock jumps past every token's expiry. A forwarded call gets
	// 42001, the platform refreshes (rotating the refresh token) and retries.
	d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "2h5m"}, nil)
	var sent struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	st := d.api("POST", "/api/v1/authorizers/"+apps[2].AppID+"/wechat/cgi-bin/message/custom/send",
		map[string]any{"touser": "o-nobody", "msgtype": "text", "text": map[string]string{"content": "hi"}}, &sent)
	if st != 200 || sent.ErrCode != 40003 {
		t.Fatalf("forwarded call after expiry: status %d, %+v (want WeChat's 40003 for the unknown openid, not a token error)", st, sent)
	}
	var sbState struct {
		RefreshToken string `json:"authorizer_refresh_token"`
	}
	d.sandbox("GET", "/sandbox/api/apps/"+apps[2].AppID, nil, &sbState)
	// The rotated refresh token was saved: another refresh works.
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "2h5m"}, nil)
	st = d.api("POST", "/api/v1/authorizers/"+apps[2].AppID+"/wechat/cgi-bin/message/custom/send",
		map[string]any{"touser": "o-nobody", "msgtype": "text", "text": map[string]string{"content": "hi"}}, &sent)
	if st != 200 || sent.ErrCode != 40003 {
		t.Fatalf("second refresh failed: status %d, %+v", st, sent)
	}
	assertNotInDir(t, d.data, sbState.RefreshToken)

	// The merchant revokes: the push marks the authorizer revoked.
	d.sandbox("POST", "/sandbox/api/apps/"+apps[2].AppID+"/unauthorize", map[string]any{}, nil)
	d.eventually("revoked", func() bool {
		a, _ := d.authorizer(apps[2].AppID)
		return a.Status == "revoked"
	})
	if st := d.api("GET", "/api/v1/authorizers/"+apps[2].AppID+"/access-token", nil, &tok); st != 409 {
		t.Fatalf("access-token of a revoked authorizer: %d", st)
	}
}

func TestDemoPassesReleaseCheck(t *testing.T) {
	releaseCheck(t, bootDemo(t))
}

func releaseCheck(t *testing.T, d *testDemo) {
	for i := 0; i < 2; i++ { // WeChat picks one of two test accounts at random
		var res struct {
			Passed bool   `json:"passed"`
			AppID  string `json:"appid"`
			Cases  []struct {
				Name   string `json:"name"`
				Passed bool   `json:"passed"`
				Detail string `json:"detail"`
			} `json:"cases"`
		}
		if st := d.sandbox("POST", "/sandbox/api/release-check", map[string]any{}, &res); st != 200 {
			t.Fatalf("release-check: %d", st)
		}
		if !res.Passed || len(res.Cases) < 3 {
			t.Fatalf("release check failed: %+v", res)
		}
		t.Logf("release check passed with %s", res.AppID)
	}
}

func TestPushesAreVerified(t *testing.T) {
	d := bootDemo(t)
	before := d.eventsTotal()
	for _, tc := range []struct {
		name, query, body string
		want              int
	}{
		{"no params", "", "<xml><Encrypt>x</Encrypt></xml>", 400},
		{"stale", fmt.Sprintf("?timestamp=%d&nonce=1&msg_signature=abc", time.Now().Add(-time.Hour).Unix()), "<xml><Encrypt>x</Encrypt></xml>", 400},
		{"forged", fmt.Sprintf("?timestamp=%d&nonce=1&msg_signature=abc", time.Now().Unix()), "<xml><AppId>" + demoPlatform.AppID + "</AppId><Encrypt>eA==</Encrypt></xml>", 403},
		{"unknown platform", fmt.Sprintf("?timestamp=%d&nonce=1&msg_signature=abc", time.Now().Unix()), "<xml><AppId>wxnobody</AppId><Encrypt>eA==</Encrypt></xml>", 404},
		{"oversized", fmt.Sprintf("?timestamp=%d&nonce=1&msg_signature=abc", time.Now().Unix()), "<xml><Encrypt>" + strings.Repeat("A", 2<<20) + "</Encrypt></xml>", 413},
	} {
		resp, err := http.Post(d.Platform.URL()+"/wechat/component"+tc.query, "text/xml", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	if after := d.eventsTotal(); after != before {
		t.Errorf("refused pushes were stored: %d events before, %d after", before, after)
	}
	// A genuine user message through the sandbox is stored once.
	apps := d.miniPrograms()
	var link struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{}, &link)
	d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": apps[3].AppID}, nil)
	var sent struct {
		Status int    `json:"status"`
		Reply  string `json:"reply"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+apps[3].AppID+"/messages", map[string]any{"content": "你好，我想订位"}, &sent)
	if sent.Status != 200 || sent.Reply != "success" {
		t.Fatalf("user message: %+v", sent)
	}
	var events struct {
		Total int `json:"total"`
	}
	d.api("GET", "/api/v1/events?appid="+apps[3].AppID+"&type=text", nil, &events)
	if events.Total != 1 {
		t.Fatalf("text events for %s: %d", apps[3].AppID, events.Total)
	}
}

// eventsTotal counts stored events other than component_verify_ticket: the
// sandbox pushes tickets on its own schedule (at start, and again when the
// platform asks), which would make a before/after count race.
func (d *testDemo) eventsTotal() int {
	for {
		var all, tickets, again struct {
			Total int `json:"total"`
		}
		d.api("GET", "/api/v1/events", nil, &all)
		d.api("GET", "/api/v1/events?type=component_verify_ticket", nil, &tickets)
		d.api("GET", "/api/v1/events", nil, &again)
		if all.Total == again.Total { // no push landed between the two counts
			return all.Total - tickets.Total
		}
	}
}
