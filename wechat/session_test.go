package wechat

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// JSCode2Session sends WeChat's query (docs/wechat-runtime.md) and reads the
// answer; errcodes come back as *Error; a used code is not sent twice.
func TestJSCode2Session(t *testing.T) {
	var got atomic.Value
	var calls atomic.Int32
	answer := `{"openid":"oUSER","session_key":"c2Vzc2lvbmtleTEyMzQ1Ng==","unionid":"oUNION"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		got.Store(r.Method + " " + r.URL.Path + "?" + r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("js_code") == "USED" {
			w.Write([]byte(`{"errcode":40163,"errmsg":"code been used rid: 1-2-3"}`))
			return
		}
		w.Write([]byte(answer))
	}))
	defer srv.Close()
	c := New(Options{Hosts: SingleHost(srv.URL)})
	ctx := context.Background()

	s, err := c.JSCode2Session(ctx, StaticToken("CAT"), "wxcomp", "wxapp", "CODE")
	if err != nil {
		t.Fatal(err)
	}
	if s.OpenID != "oUSER" || s.SessionKey != "c2Vzc2lvbmtleTEyMzQ1Ng==" || s.UnionID != "oUNION" {
		t.Errorf("session = %+v", s)
	}
	line, _ := got.Load().(string)
	method, rawURL, _ := strings.Cut(line, " ")
	u, _ := url.Parse(rawURL)
	q := u.Query()
	if method != "GET" || u.Path != pathJSCode2Session || q.Get("appid") != "wxapp" || q.Get("js_code") != "CODE" ||
		q.Get("grant_type") != "authorization_code" || q.Get("component_appid") != "wxcomp" || q.Get("component_access_token") != "CAT" || len(q) != 5 {
		t.Errorf("request = %s", line)
	}

	// The session_key stays out of logs.
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("login", "session", *s)
	if strings.Contains(buf.String(), s.SessionKey) || !strings.Contains(buf.String(), "oUSER") {
		t.Errorf("log line %q", buf.String())
	}

	calls.Store(0)
	_, err = c.JSCode2Session(ctx, StaticToken("CAT"), "wxcomp", "wxapp", "USED")
	var we *Error
	if !errors.As(err, &we) || we.Code != CodeJSCodeUsed || we.RID != "1-2-3" || calls.Load() != 1 {
		t.Fatalf("used code: %v (%d calls)", err, calls.Load())
	}
	if _, err := c.JSCode2Session(ctx, StaticToken("CAT"), "wxcomp", "wxapp", ""); err == nil {
		t.Fatal("an empty code was sent")
	}
}
