package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet/vault"
)

// A debug-level run of the demo in JSON — authorize a mini program, forward
// calls, refresh its token on expiry and on a rejection, receive a message,
// log a mini-program user in, stop — logs none of the secrets it handled:
// refresh and access tokens (old and new), the component token, the ticket,
// the platform's secret, Token and AES key, the master key in any common
// encoding, the admin token, the wx.login code, the runtime session token
// and the session_key.
func TestDebugLogsHoldNoSecret(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	logs := &syncBuffer{}
	d := bootDemoWith(t, func(o *demoOptions) {
		o.MasterKey = key
		o.Logger = slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	secrets := map[string]string{
		"component secret": demoPlatform.Secret.Reveal(), "component token (message Token)": demoPlatform.Token.Reveal(),
		"EncodingAESKey": demoPlatform.AESKey.Reveal(), "admin token": d.AdminToken,
		"master key (base64)": vault.EncodeKey(key), "master key (raw base64)": base64.RawStdEncoding.EncodeToString(key),
		"master key (url base64)": base64.RawURLEncoding.EncodeToString(key), "master key (hex)": hex.EncodeToString(key),
	}
	app := d.miniPrograms()[4].AppID
	collect := func(when string) {
		t.Helper()
		ctx := context.Background()
		var sb struct {
			Authorizations []struct {
				AccessToken  string `json:"authorizer_access_token"`
				RefreshToken string `json:"authorizer_refresh_token"`
			} `json:"authorizations"`
		}
		d.sandbox("GET", "/sandbox/api/apps/"+app, nil, &sb)
		for _, a := range sb.Authorizations {
			secrets["access token "+when] = a.AccessToken
			secrets["refresh token "+when] = a.RefreshToken
		}
		st := d.Platform.Store
		if a, err := st.Authorizer(ctx, demoPlatform.AppID, app); err == nil {
			secrets["stored access token "+when] = a.AccessToken.Reveal()
			secrets["stored refresh token "+when] = a.RefreshToken.Reveal()
		}
		if tok, err := st.ComponentToken(ctx, demoPlatform.AppID); err == nil {
			secrets["component_access_token "+when] = tok.Value.Reveal()
		}
		if tk, err := st.Ticket(ctx, demoPlatform.AppID); err == nil {
			secrets["component_verify_ticket "+when] = tk.Value.Reveal()
		}
	}

	var link struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{"merchant": "m-logs"}, &link)
	var redir struct {
		RedirectURL string `json:"redirect_url"`
	}
	d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": app}, &redir)
	if resp, err := http.Get(redir.RedirectURL); err == nil {
		resp.Body.Close()
	}
	d.eventually("authorized", func() bool {
		a, st := d.authorizer(app)
		return st == 200 && a.Status == "authorized" && a.TokenState == "valid"
	})
	collect("at authorization")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	d.api("GET", "/api/v1/authorizers/"+app+"/access-token", nil, &tok)
	send := func() int {
		var sent struct {
			ErrCode int `json:"errcode"`
		}
		d.api("POST", "/api/v1/authorizers/"+app+"/wechat/cgi-bin/message/custom/send",
			map[string]any{"touser": "o-nobody", "msgtype": "text", "text": map[string]string{"content": "hi"}}, &sent)
		return sent.ErrCode
	}
	if code := send(); code != 40003 {
		t.Fatalf("forwarded call: errcode %d, want WeChat's 40003 for the unknown openid", code)
	}
	// Expiry: WeChat's clock jumps, the forwarded call meets 42001 and the
	// platform refreshes (the refresh token rotates).
	d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "2h5m"}, nil)
	if code := send(); code != 40003 {
		t.Fatalf("forwarded call after expiry: errcode %d", code)
	}
	collect("after the expiry refresh")
	// A rejection (40001): a forced refresh, logged as such.
	d.sandbox("POST", "/sandbox/api/faults", map[string]any{"path": "/cgi-bin/message/custom/send", "errcode": 40001, "count": 1}, nil)
	send()
	d.sandbox("DELETE", "/sandbox/api/faults", nil, nil)
	collect("after the forced refresh")
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/messages", map[string]any{"content": "你好"}, nil)
	// A mini-program user logs in through the runtime API and reads its
	// config: the wx.login code, the session token and the session_key stay
	// out of the log.
	lc := d.loginCode(app, nil)
	st, e, rtok := d.runtimeLogin(app, lc.Code)
	if st != http.StatusOK {
		t.Fatalf("runtime login: %d %+v", st, e)
	}
	if st, _, _ := d.runtime("GET", "/runtime/v1/config", rtok, nil, nil); st != http.StatusOK {
		t.Fatalf("runtime config: %d", st)
	}
	secrets["wx.login code"], secrets["session_key"], secrets["runtime session token"] = lc.Code, lc.SessionKey, rtok
	d.Close()

	if secrets["refresh token at authorization"] == "" || secrets["refresh token at authorization"] == secrets["refresh token after the expiry refresh"] {
		t.Fatalf("the refresh token did not rotate (or was not seen): %q", secrets["refresh token at authorization"])
	}
	out := logs.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	debug := 0
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", l)
		}
		if rec["level"] == "DEBUG" {
			debug++
		}
	}
	if debug == 0 {
		t.Fatal("no DEBUG line: the run did not log at debug level")
	}
	checked := 0
	for what, s := range secrets {
		if len(s) < 8 {
			continue
		}
		checked++
		for i, l := range lines {
			if strings.Contains(l, s) {
				t.Errorf("the %s appears in log line %d: %s", what, i+1, l)
				break
			}
		}
	}
	t.Logf("%d log lines (%d at DEBUG) checked for %d secret values", len(lines), debug, checked)
}
