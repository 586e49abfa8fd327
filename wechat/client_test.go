package wechat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorded is one request the fake WeChat received.
type recorded struct {
	Method      string
	Path        string
	Query       url.Values
	Body        []byte
	ContentType string
}

// fakeWeChat is an httptest server that records requests and answers with
// handle; n counts requests from 0.
type fakeWeChat struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	handle func(w http.ResponseWriter, r *http.Request, n int)
}

func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *fakeWeChat {
	t.Helper()
	f := &fakeWeChat{handle: handle}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		n := len(f.reqs)
		f.reqs = append(f.reqs, recorded{r.Method, r.URL.Path, r.URL.Query(), body, r.Header.Get("Content-Type")})
		f.mu.Unlock()
		f.handle(w, r, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeWeChat) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// answer returns a handler that writes the given JSON bodies in turn, the
// last one repeating.
func answer(bodies ...string) func(w http.ResponseWriter, r *http.Request, n int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json; encoding=utf-8")
		io.WriteString(w, bodies[min(n, len(bodies)-1)])
	}
}

// sleeps records the waits the client asked for, without sleeping.
type sleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.ds...)
}

// observed records Observe calls.
type observed struct {
	mu    sync.Mutex
	paths []string
	codes []int
}

func (o *observed) observe(path string, code int, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.paths = append(o.paths, path)
	o.codes = append(o.codes, code)
}

func (o *observed) got() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]int(nil), o.codes...)
}

// newClient returns a client for base with fake sleep and observe hooks;
// fields set in o win.
func newClient(base string, o Options) (*Client, *sleeps, *observed) {
	s, obs := &sleeps{}, &observed{}
	if o.Hosts == (Hosts{}) {
		o.Hosts = SingleHost(base + "/")
	}
	if o.Sleep == nil {
		o.Sleep = s.sleep
	}
	if o.Observe == nil {
		o.Observe = obs.observe
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second // a hung test fails instead of hanging
	}
	return New(o), s, obs
}

// fakeTS is a TokenSource handing out tokens in turn: Invalidate moves on.
type fakeTS struct {
	mu          sync.Mutex
	tokens      []string
	i           int
	invalidated []string
	rejections  []int // the errcode each Invalidate was given
	invErr      error
}

func (f *fakeTS) Token(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens[min(f.i, len(f.tokens)-1)], nil
}

func (f *fakeTS) Invalidate(_ context.Context, tok string, rejection *Error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated = append(f.invalidated, tok)
	if rejection != nil {
		f.rejections = append(f.rejections, rejection.Code)
	}
	if f.invErr != nil {
		return f.invErr
	}
	f.i++
	return nil
}

func (f *fakeTS) gotInvalidated() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.invalidated...)
}

func tokensSent(reqs []recorded, param string) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Query.Get(param))
	}
	return out
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHosts(t *testing.T) {
	d := DefaultHosts()
	if d.API != "https://api.weixin.qq.com" || d.MP != "https://mp.weixin.qq.com" || d.Open != "https://open.weixin.qq.com" {
		t.Errorf("DefaultHosts() = %+v", d)
	}
	if got, want := SingleHost("http://127.0.0.1:9000//"), (Hosts{"http://127.0.0.1:9000", "http://127.0.0.1:9000", "http://127.0.0.1:9000"}); got != want {
		t.Errorf("SingleHost = %+v, want %+v", got, want)
	}
	c := New(Options{Hosts: Hosts{API: "http://x/"}})
	if want := (Hosts{"http://x", d.MP, d.Open}); c.hosts != want {
		t.Errorf("New filled hosts %+v, want %+v", c.hosts, want)
	}
	if c.timeout != DefaultTimeout || c.retries != DefaultRetries || c.backoff != DefaultBackoff {
		t.Errorf("defaults: timeout %v retries %d backoff %v", c.timeout, c.retries, c.backoff)
	}
	if c := New(Options{Retries: -1}); c.retries != 0 {
		t.Errorf("Retries -1 gave %d retries, want 0", c.retries)
	}
}

func TestSplitRID(t *testing.T) {
	tests := []struct{ in, msg, rid string }{
		{"invalid credential, access_token is invalid or not latest rid: 6470b073-22f009c7-44bd3a05",
			"invalid credential, access_token is invalid or not latest", "6470b073-22f009c7-44bd3a05"},
		{"refresh_token is invalid rid: 64a1b2c3-0a0b0c0d-1e2f3a4b", "refresh_token is invalid", "64a1b2c3-0a0b0c0d-1e2f3a4b"},
		{"invalid code, rid: abc-def-012", "invalid code", "abc-def-012"},
		{"system error rid: abc-def-012.", "system error", "abc-def-012"},
		{"rid: abc-def-012", "", "abc-def-012"},
		{"invalid appid hint: [Yz7Ra] rid: 1-2-3", "invalid appid hint: [Yz7Ra]", "1-2-3"},
		{"ok", "ok", ""},
		{"", "", ""},
		{"see grid: 4", "see grid: 4", ""},
	}
	for _, tt := range tests {
		msg, rid := splitRID(tt.in)
		if msg != tt.msg || rid != tt.rid {
			t.Errorf("splitRID(%q) = %q, %q; want %q, %q", tt.in, msg, rid, tt.msg, tt.rid)
		}
	}
}

func TestErrcodeBecomesError(t *testing.T) {
	f := newFake(t, answer(`{"errcode":61009,"errmsg":"invalid code rid: 6470b073-22f009c7-44bd3a05"}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	_, err := c.QueryAuth(context.Background(), StaticToken("ctok"), "wxcomp", "queryauthcode@@@x")
	var e *Error
	if !errors.As(fmt.Errorf("wrapped: %w", err), &e) {
		t.Fatalf("err = %v, want a *Error", err)
	}
	want := Error{Path: "/cgi-bin/component/api_query_auth", Code: 61009, Message: "invalid code", RID: "6470b073-22f009c7-44bd3a05"}
	if *e != want {
		t.Errorf("got %+v, want %+v", *e, want)
	}
	if s := e.Error(); !strings.Contains(s, "61009") || !strings.Contains(s, "6470b073-22f009c7-44bd3a05") || !strings.Contains(s, "api_query_auth") {
		t.Errorf("Error() = %q lacks code, rid or path", s)
	}
	if ErrorCode(err) != 61009 || IsTokenError(err) {
		t.Errorf("ErrorCode = %d, IsTokenError = %v", ErrorCode(err), IsTokenError(err))
	}
	if len(f.requests()) != 1 {
		t.Errorf("61009 sent %d requests, want 1 (no retry)", len(f.requests()))
	}
}

// TestErrorAdvice: errcodes that only an operator can fix say what to do.
func TestErrorAdvice(t *testing.T) {
	for code, want := range map[int]string{61004: "白名单", 45009: "clear_quota", 40125: "appsecret"} {
		e := &Error{Path: "/cgi-bin/component/api_component_token", Code: code, Message: "m", RID: "r"}
		if !strings.Contains(e.Error(), want) {
			t.Errorf("%d: Error() = %q, want advice mentioning %s", code, e.Error(), want)
		}
	}
	if s := (&Error{Code: 61009, Message: "invalid code"}).Error(); strings.Contains(s, "—") {
		t.Errorf("61009 got advice: %q", s)
	}
}

func TestErrcodeVariants(t *testing.T) {
	tests := []struct {
		body string
		code int // 0: success
	}{
		{`{"errcode":0,"errmsg":"ok"}`, 0},
		{`{"errcode":"0","errmsg":"ok"}`, 0},
		{`{}`, 0},
		{`{"errcode":null}`, 0},
		{`{"errcode":"","errmsg":""}`, 0},
		{`{"errmsg":"ok","extra":{"x":[1,2]}}`, 0},
		{` {"errcode":40013,"errmsg":"invalid appid"}`, 40013},
		{`{"errcode":"40013","errmsg":"invalid appid"}`, 40013},
		{`{"errcode":" 61005 ","errmsg":"component ticket is expired"}`, 61005},
		{`{"errcode":45009.0,"errmsg":"reach max api daily quota limit"}`, 45009},
		{`{"errcode":48001,"errmsg":48001}`, 48001},
	}
	for _, tt := range tests {
		f := newFake(t, answer(tt.body))
		c, _, _ := newClient(f.srv.URL, Options{})
		err := c.StartPushTicket(context.Background(), "wxcomp", "secret")
		if got := ErrorCode(err); got != tt.code || (tt.code == 0) != (err == nil) {
			t.Errorf("%s: err = %v, want errcode %d", tt.body, err, tt.code)
		}
	}
}

func TestBusyRetriedThenSuccess(t *testing.T) {
	f := newFake(t, answer(
		`{"errcode":-1,"errmsg":"system error rid: a-b-c"}`,
		`{"errcode":-1,"errmsg":"system error"}`,
		`{"pre_auth_code":"preauthcode@@@ok","expires_in":600}`,
	))
	c, s, obs := newClient(f.srv.URL, Options{Retries: 2, Backoff: 100 * time.Millisecond})
	got, err := c.CreatePreAuthCode(context.Background(), StaticToken("ctok"), "wxcomp")
	if err != nil {
		t.Fatal(err)
	}
	if got.Code != "preauthcode@@@ok" || got.ExpiresIn != 600 {
		t.Errorf("got %+v", got)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if ds := s.got(); len(ds) != 2 {
		t.Errorf("slept %v, want 2 waits", ds)
	}
	if codes := obs.got(); !equal(codes, []int{-1, -1, 0}) {
		t.Errorf("Observe saw %v, want [-1 -1 0]", codes)
	}
	if !equal(obs.paths, []string{pathCreatePreAuthCode, pathCreatePreAuthCode, pathCreatePreAuthCode}) {
		t.Errorf("Observe paths %v", obs.paths)
	}
}

func TestRetriesHonoured(t *testing.T) {
	tests := []struct{ retries, wantRequests int }{
		{-1, 1},
		{0, 1 + DefaultRetries},
		{1, 2},
		{4, 5},
	}
	for _, tt := range tests {
		f := newFake(t, answer(`{"errcode":-1,"errmsg":"system error"}`))
		c, s, _ := newClient(f.srv.URL, Options{Retries: tt.retries})
		err := c.StartPushTicket(context.Background(), "wxcomp", "secret")
		if ErrorCode(err) != CodeSystemBusy {
			t.Errorf("Retries %d: err = %v, want errcode -1", tt.retries, err)
		}
		if n := len(f.requests()); n != tt.wantRequests {
			t.Errorf("Retries %d: %d requests, want %d", tt.retries, n, tt.wantRequests)
		}
		if n := len(s.got()); n != tt.wantRequests-1 {
			t.Errorf("Retries %d: %d waits, want %d", tt.retries, n, tt.wantRequests-1)
		}
	}
}

func TestBackoffDoublesWithJitter(t *testing.T) {
	f := newFake(t, answer(`{"errcode":-1,"errmsg":"system error"}`))
	for run := 0; run < 20; run++ {
		c, s, _ := newClient(f.srv.URL, Options{Retries: 4, Backoff: 100 * time.Millisecond})
		c.StartPushTicket(context.Background(), "wxcomp", "secret")
		ds := s.got()
		if len(ds) != 4 {
			t.Fatalf("waits %v, want 4", ds)
		}
		for i, d := range ds {
			hi := 100 * time.Millisecond << i
			if d < hi/2 || d > hi {
				t.Errorf("wait %d = %v, want within [%v, %v]", i, d, hi/2, hi)
			}
		}
	}
}

func TestOtherErrcodesNotRetried(t *testing.T) {
	for _, code := range []int{40013, 45009, 48001, 61003, 61023} {
		f := newFake(t, answer(fmt.Sprintf(`{"errcode":%d,"errmsg":"nope"}`, code)))
		c, s, _ := newClient(f.srv.URL, Options{Retries: 3})
		_, err := c.AuthorizerToken(context.Background(), StaticToken("ctok"), "wxcomp", "wxauth", "rtok")
		if ErrorCode(err) != code || len(f.requests()) != 1 || len(s.got()) != 0 {
			t.Errorf("errcode %d: err %v after %d requests, %d waits; want it returned at once", code, err, len(f.requests()), len(s.got()))
		}
	}
}

func TestCancelStopsRetries(t *testing.T) {
	t.Run("sleep honours ctx", func(t *testing.T) {
		f := newFake(t, answer(`{"errcode":-1,"errmsg":"system error"}`))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c, _, _ := newClient(f.srv.URL, Options{Retries: 5, Sleep: func(ctx context.Context, _ time.Duration) error {
			cancel()
			return ctx.Err()
		}})
		err := c.StartPushTicket(ctx, "wxcomp", "secret")
		if !errors.Is(err, context.Canceled) || ErrorCode(err) != -1 {
			t.Errorf("err = %v, want context.Canceled wrapping the last errcode -1", err)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests after cancel, want 1", n)
		}
	})
	t.Run("sleep ignores ctx", func(t *testing.T) {
		f := newFake(t, answer(`{"errcode":-1,"errmsg":"system error"}`))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c, _, obs := newClient(f.srv.URL, Options{Retries: 5, Sleep: func(context.Context, time.Duration) error {
			cancel()
			return nil
		}})
		err := c.StartPushTicket(ctx, "wxcomp", "secret")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests after cancel, want 1", n)
		}
		if codes := obs.got(); !equal(codes, []int{-1}) {
			t.Errorf("Observe saw %v, want one attempt", codes)
		}
	})
}

func TestTokenErrorRefreshesOnce(t *testing.T) {
	for _, code := range []int{CodeInvalidCredential, CodeInvalidToken, CodeTokenExpired} {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if r.URL.Query().Get("component_access_token") == "old" {
				fmt.Fprintf(w, `{"errcode":%d,"errmsg":"access_token rejected rid: 1-2-3"}`, code)
				return
			}
			io.WriteString(w, `{"pre_auth_code":"preauthcode@@@fresh","expires_in":600}`)
		})
		c, s, _ := newClient(f.srv.URL, Options{})
		ts := &fakeTS{tokens: []string{"old", "new"}}
		got, err := c.CreatePreAuthCode(context.Background(), ts, "wxcomp")
		if err != nil {
			t.Fatalf("errcode %d: %v", code, err)
		}
		if got.Code != "preauthcode@@@fresh" {
			t.Errorf("errcode %d: got %+v", code, got)
		}
		if inv := ts.gotInvalidated(); !equal(inv, []string{"old"}) {
			t.Errorf("errcode %d: Invalidate called with %v, want [old]", code, inv)
		}
		ts.mu.Lock()
		if !slices.Equal(ts.rejections, []int{code}) {
			t.Errorf("errcode %d: Invalidate was told of rejections %v", code, ts.rejections)
		}
		ts.mu.Unlock()
		if sent := tokensSent(f.requests(), "component_access_token"); !equal(sent, []string{"old", "new"}) {
			t.Errorf("errcode %d: tokens sent %v, want [old new]", code, sent)
		}
		if len(s.got()) != 0 {
			t.Errorf("errcode %d: token retry waited %v, want no wait", code, s.got())
		}
	}
}

func TestSecondTokenErrorReturned(t *testing.T) {
	f := newFake(t, answer(`{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 1-2-3"}`))
	c, _, _ := newClient(f.srv.URL, Options{Retries: 3})
	ts := &fakeTS{tokens: []string{"t1", "t2", "t3"}}
	_, err := c.GetAuthorizerList(context.Background(), ts, "wxcomp", 0, 100)
	if !IsTokenError(err) {
		t.Fatalf("err = %v, want the token error", err)
	}
	if sent := tokensSent(f.requests(), "component_access_token"); !equal(sent, []string{"t1", "t2"}) {
		t.Errorf("tokens sent %v, want [t1 t2]", sent)
	}
	if inv := ts.gotInvalidated(); !equal(inv, []string{"t1"}) {
		t.Errorf("Invalidate called with %v, want [t1]", inv)
	}
}

func TestTokenErrorWithoutSourceNotRetried(t *testing.T) {
	// On api_component_token 40001 means a wrong secret: nothing to refresh.
	f := newFake(t, answer(`{"errcode":40001,"errmsg":"invalid credential"}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	_, err := c.ComponentToken(context.Background(), "wxcomp", "secret", "ticket")
	if !IsTokenError(err) || len(f.requests()) != 1 {
		t.Errorf("err = %v after %d requests; want 40001 after 1", err, len(f.requests()))
	}
}

func TestInvalidateErrorReturned(t *testing.T) {
	f := newFake(t, answer(`{"errcode":42001,"errmsg":"access_token expired"}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	storeDown := errors.New("store down")
	ts := &fakeTS{tokens: []string{"t1", "t2"}, invErr: storeDown}
	_, err := c.CreatePreAuthCode(context.Background(), ts, "wxcomp")
	if !errors.Is(err, storeDown) || ErrorCode(err) != 42001 {
		t.Errorf("err = %v, want both the store error and errcode 42001", err)
	}
	if len(f.requests()) != 1 {
		t.Errorf("%d requests, want 1", len(f.requests()))
	}
}

func TestNoTokenSource(t *testing.T) {
	f := newFake(t, answer(`{}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	if _, err := c.CreatePreAuthCode(context.Background(), nil, "wxcomp"); err == nil {
		t.Error("nil TokenSource: no error")
	}
	if err := c.SendCustomMessage(context.Background(), StaticToken(""), TextMessage("openid", "hi")); err == nil {
		t.Error("empty token: no error")
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent without a token", n)
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 { // drop the connection without an answer
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		io.WriteString(w, `{"component_access_token":"ctok-new","expires_in":7200}`)
	})
	c, s, obs := newClient(f.srv.URL, Options{})
	got, err := c.ComponentToken(context.Background(), "wxcomp", "secret", "ticket")
	if err != nil {
		t.Fatal(err)
	}
	if got.Token != "ctok-new" || got.ExpiresIn != 7200 {
		t.Errorf("got %+v", got)
	}
	if len(f.requests()) != 2 || len(s.got()) != 1 {
		t.Errorf("%d requests, %d waits; want 2 and 1", len(f.requests()), len(s.got()))
	}
	if codes := obs.got(); !equal(codes, []int{-2, 0}) {
		t.Errorf("Observe saw %v, want [-2 0]", codes)
	}
}

// refusedURL returns a base URL nothing listens on.
func refusedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestConnectionRefusedRetriedAndRedacted(t *testing.T) {
	c, s, obs := newClient(refusedURL(t), Options{Retries: 2})
	ts := StaticToken("SECRET-ACCESS-TOKEN")
	err := c.SendCustomMessage(context.Background(), ts, TextMessage("openid", "hi"))
	if err == nil {
		t.Fatal("no error from a refused connection")
	}
	var e *Error
	if errors.As(err, &e) {
		t.Errorf("network failure became a WeChat *Error: %v", e)
	}
	if strings.Contains(err.Error(), "SECRET-ACCESS-TOKEN") {
		t.Errorf("error leaks the token: %v", err)
	}
	if len(s.got()) != 2 {
		t.Errorf("%d waits, want 2", len(s.got()))
	}
	if codes := obs.got(); !equal(codes, []int{-2, -2, -2}) {
		t.Errorf("Observe saw %v, want [-2 -2 -2]", codes)
	}
}

func TestTimeoutHonoured(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	c, _, obs := newClient(f.srv.URL, Options{Timeout: 50 * time.Millisecond, Retries: 1})
	// The outer deadline only keeps a broken client from hanging the test; it
	// is not retried, so two requests prove the per-attempt timeout fired.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.QueryAuth(ctx, StaticToken("ctok"), "wxcomp", "code")
	if err == nil {
		t.Fatal("no error although the server never answered")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline error", err)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("%d requests, want 2 (a timeout is retried)", n)
	}
	if codes := obs.got(); !equal(codes, []int{-2, -2}) {
		t.Errorf("Observe saw %v", codes)
	}
}

func TestHTTPStatusNotRetried(t *testing.T) {
	t.Run("plain", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		})
		c, _, obs := newClient(f.srv.URL, Options{})
		err := c.StartPushTicket(context.Background(), "wxcomp", "secret")
		var e *Error
		if !errors.Is(err, ErrHTTPStatus) || errors.As(err, &e) || !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), pathStartPushTicket) {
			t.Errorf("err = %v, want an HTTP status error naming 502 and the path", err)
		}
		if len(f.requests()) != 1 || !equal(obs.got(), []int{-2}) {
			t.Errorf("%d requests, observed %v; want 1 and [-2]", len(f.requests()), obs.got())
		}
	})
	t.Run("with errcode", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"errcode":47001,"errmsg":"data format error rid: 9-9-9"}`)
		})
		c, _, _ := newClient(f.srv.URL, Options{})
		err := c.StartPushTicket(context.Background(), "wxcomp", "secret")
		var e *Error
		if !errors.Is(err, ErrHTTPStatus) || !errors.As(err, &e) || e.Code != 47001 || e.RID != "9-9-9" {
			t.Errorf("err = %v, want ErrHTTPStatus and a *Error 47001", err)
		}
	})
}

func TestNonJSONAnswer(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>maintenance</html>")
	})
	c, _, obs := newClient(f.srv.URL, Options{})
	_, err := c.ComponentToken(context.Background(), "wxcomp", "secret", "ticket")
	if err == nil || ErrorCode(err) != 0 {
		t.Errorf("err = %v, want a decode error", err)
	}
	if len(f.requests()) != 1 || !equal(obs.got(), []int{-2}) {
		t.Errorf("%d requests, observed %v", len(f.requests()), obs.got())
	}
}

func TestMissingFieldsRejected(t *testing.T) {
	f := newFake(t, answer(`{"errcode":0,"errmsg":"ok"}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	ctx, ts := context.Background(), StaticToken("ctok")
	if _, err := c.ComponentToken(ctx, "a", "b", "c"); err == nil {
		t.Error("ComponentToken accepted an answer without a token")
	}
	if _, err := c.CreatePreAuthCode(ctx, ts, "a"); err == nil {
		t.Error("CreatePreAuthCode accepted an answer without a code")
	}
	if _, err := c.QueryAuth(ctx, ts, "a", "b"); err == nil {
		t.Error("QueryAuth accepted an answer without authorization_info")
	}
	if _, err := c.AuthorizerToken(ctx, ts, "a", "b", "c"); err == nil {
		t.Error("AuthorizerToken accepted an answer without a token")
	}
	if _, err := c.GetAuthorizerInfo(ctx, ts, "a", "b"); err == nil {
		t.Error("GetAuthorizerInfo accepted an answer without authorizer_info")
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://api.weixin.qq.com/cgi-bin/message/custom/send?access_token=SECRET",
			"https://api.weixin.qq.com/cgi-bin/message/custom/send?access_token=REDACTED"},
		{"http://h/cgi-bin/component/api_query_auth?component_access_token=SECRET&x=1",
			"http://h/cgi-bin/component/api_query_auth?component_access_token=REDACTED&x=1"},
		{"/sns/component/jscode2session?appid=wx1&js_code=SECRET&grant_type=authorization_code&component_appid=wx2&component_access_token=SECRET",
			"/sns/component/jscode2session?appid=wx1&js_code=REDACTED&grant_type=authorization_code&component_appid=wx2&component_access_token=REDACTED"},
		{"/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=SECRET",
			"/cgi-bin/token?grant_type=client_credential&appid=wx1&secret=REDACTED"},
		{"/cb?auth_code=SECRET&expires_in=3600", "/cb?auth_code=REDACTED&expires_in=3600"},
		{"/x?Access_Token=SECRET&authorizer_refresh_token=SECRET&component_verify_ticket=SECRET",
			"/x?Access_Token=REDACTED&authorizer_refresh_token=REDACTED&component_verify_ticket=REDACTED"},
		{"/x?access%5Ftoken=SECRET", "/x?access%5Ftoken=REDACTED"},
		{"https://open.weixin.qq.com/p?pre_auth_code=SECRET#wechat_redirect", "https://open.weixin.qq.com/p?pre_auth_code=REDACTED#wechat_redirect"},
		{"https://h/cb#access_token=SECRET", "https://h/cb#access_token=REDACTED"},
		{"https://user:SECRET@h/p?a=1", "https://user:xxxxx@h/p?a=1"},
		{"/plain/path", "/plain/path"},
		{"/x?flag&access_token", "/x?flag&access_token"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestLogsHaveNoSecrets drives every call, failures included, with a debug
// logger and checks that no credential reaches the log.
func TestLogsHaveNoSecrets(t *testing.T) {
	secrets := []string{
		"S-APPSECRET", "S-TICKET", "S-CTOK-OLD", "S-CTOK-NEW", "S-AUTHCODE", "S-ATOK", "S-RTOK",
		"S-PREAUTH", "S-FWD-CALLER", "S-REFUSED-TOK",
	}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		q := r.URL.Query()
		if q.Get("component_access_token") == "S-CTOK-OLD" || q.Get("access_token") == "S-CTOK-OLD" {
			io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential rid: 1-2-3"}`)
			return
		}
		switch r.URL.Path {
		case pathComponentToken:
			io.WriteString(w, `{"component_access_token":"S-CTOK-NEW","expires_in":7200}`)
		case pathCreatePreAuthCode:
			io.WriteString(w, `{"pre_auth_code":"S-PREAUTH","expires_in":600}`)
		case pathQueryAuth:
			io.WriteString(w, `{"authorization_info":{"authorizer_appid":"wxauth","authorizer_access_token":"S-ATOK","expires_in":7200,"authorizer_refresh_token":"S-RTOK","func_info":[{"funcscope_category":{"id":18}}]}}`)
		case pathAuthorizerToken:
			io.WriteString(w, `{"authorizer_access_token":"S-ATOK","expires_in":7200,"authorizer_refresh_token":"S-RTOK"}`)
		case pathGetAuthorizerList:
			io.WriteString(w, `{"total_count":1,"list":[{"authorizer_appid":"wxauth","refresh_token":"S-RTOK","auth_time":1558000607}]}`)
		default:
			io.WriteString(w, `{"errcode":0,"errmsg":"ok"}`)
		}
	})
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, _, _ := newClient(f.srv.URL, Options{Logger: logger})
	ctx := context.Background()
	ts := func() TokenSource { return &fakeTS{tokens: []string{"S-CTOK-OLD", "S-CTOK-NEW"}} }

	ct, err := c.ComponentToken(ctx, "wxcomp", "S-APPSECRET", "S-TICKET")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartPushTicket(ctx, "wxcomp", "S-APPSECRET"); err != nil {
		t.Fatal(err)
	}
	pre, err := c.CreatePreAuthCode(ctx, ts(), "wxcomp")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.QueryAuth(ctx, ts(), "wxcomp", "S-AUTHCODE")
	if err != nil {
		t.Fatal(err)
	}
	at, err := c.AuthorizerToken(ctx, ts(), "wxcomp", "wxauth", "S-RTOK")
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.GetAuthorizerList(ctx, ts(), "wxcomp", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendCustomMessage(ctx, StaticToken("S-ATOK"), TextMessage("openid", "hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Forward(ctx, ts(), "POST", "/wxa/anything", url.Values{"access_token": {"S-FWD-CALLER"}}, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePreAuthCode(ctx, &fakeTS{tokens: []string{"S-CTOK-OLD"}}, "wxcomp"); !IsTokenError(err) {
		t.Fatalf("err = %v, want a token error", err)
	}
	refused, _, _ := newClient(refusedURL(t), Options{Logger: logger, Retries: 1})
	if err := refused.SendCustomMessage(ctx, StaticToken("S-REFUSED-TOK"), TextMessage("openid", "hi")); err == nil {
		t.Fatal("refused connection gave no error")
	}
	// Handing the answers to slog must not print them either.
	logger.Info("answers", "component", ct, "pre", pre, "info", *info, "token", at, "item", list.List[0], "static", StaticToken("S-ATOK"))

	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 11 { // one per call, plus the answers line
		t.Errorf("%d log lines, want 11:\n%s", len(lines), out)
	}
	for _, want := range []string{"path=" + pathComponentToken, "path=" + pathCustomSend, "path=/wxa/anything", "errcode=0", "attempts=2", "rid=1-2-3", "errcode=40001", "REDACTED"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("log contains secret %q:\n%s", s, out)
		}
	}
}

func TestBodyNotHTMLEscaped(t *testing.T) {
	f := newFake(t, answer(`{"errcode":0,"errmsg":"ok"}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	if err := c.SendCustomMessage(context.Background(), StaticToken("atok"), TextMessage("openid", `<a href="https://x/?a=1&b=2">点我</a>`)); err != nil {
		t.Fatal(err)
	}
	if body := string(f.requests()[0].Body); !strings.Contains(body, `<a href=\"https://x/?a=1&b=2\">点我</a>`) {
		t.Errorf("body %s escapes HTML or non-ASCII", body)
	}
}

// A call that acts (a customer-service message, a refresh-token exchange)
// is not sent again once it may have reached WeChat: the user would get the
// message twice, or the refresh token would have rotated under us.
func TestActingCallsNotResentAfterTheyMayHaveArrived(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		conn, _, err := w.(http.Hijacker).Hijack() // read the request, drop the connection
		if err == nil {
			conn.Close()
		}
	})
	c, _, _ := newClient(f.srv.URL, Options{Retries: 2})
	if err := c.SendCustomMessage(context.Background(), StaticToken("tok"), TextMessage("openid", "hi")); err == nil {
		t.Fatal("no error from a dropped connection")
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("custom/send sent %d times, want once", n)
	}
	if _, err := c.AuthorizerToken(context.Background(), StaticToken("ctok"), "wxcomp", "wxapp", "refresh"); err == nil {
		t.Fatal("no error from a dropped connection")
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("api_authorizer_token sent %d times, want once", n-1)
	}
	// A read is sent again.
	if _, err := c.GetAuthorizerInfo(context.Background(), StaticToken("ctok"), "wxcomp", "wxapp"); err == nil {
		t.Fatal("no error although every attempt was dropped")
	}
	if n := len(f.requests()); n != 5 {
		t.Errorf("api_get_authorizer_info sent %d times, want 3 (two retries)", n-2)
	}
	// So is a forwarded GET, but not a forwarded POST.
	c.Forward(context.Background(), StaticToken("tok"), "POST", "/wxa/commit", nil, []byte(`{}`))
	if n := len(f.requests()); n != 6 {
		t.Errorf("forwarded POST sent %d times, want once", n-5)
	}
	c.Forward(context.Background(), StaticToken("tok"), "GET", "/wxa/get_category", nil, nil)
	if n := len(f.requests()); n != 9 {
		t.Errorf("forwarded GET sent %d times, want 3", n-6)
	}
}
