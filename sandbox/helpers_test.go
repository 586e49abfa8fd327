package sandbox

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/wxcrypt"
)

const (
	testComponent = "wxc0ffee0000000001"
	testSecret    = "component-secret-for-tests"
	testToken     = "sandboxtesttoken"
	testAESKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// inbound is a push the fake platform received, verified and decrypted.
type inbound struct {
	Path   string
	Query  url.Values
	Body   []byte
	Plain  []byte // the decrypted XML
	Fields map[string]string
}

// fakePlatform is the platform side of a test: an HTTP server that verifies
// and decrypts every push with wxcrypt, hands it to the test on a channel and
// answers as the test says.
type fakePlatform struct {
	t     *testing.T
	srv   *httptest.Server
	crypt *wxcrypt.Crypter

	component chan inbound
	messages  chan inbound

	mu          sync.Mutex
	onComponent func(in inbound) (int, string) // nil → 200 "success"
	onMessage   func(in inbound) (int, string) // nil → 200 "success"
}

func newFakePlatform(t *testing.T) *fakePlatform {
	t.Helper()
	crypt, err := wxcrypt.New(testToken, testAESKey, testComponent)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePlatform{t: t, crypt: crypt, component: make(chan inbound, 64), messages: make(chan inbound, 64)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /wechat/component", func(w http.ResponseWriter, r *http.Request) {
		in, ok := p.receive(w, r)
		if !ok {
			return
		}
		if in.Fields["InfoType"] == "component_verify_ticket" {
			// Moving the clock pushes tickets no test waits for: keep the
			// channel from filling up with them.
			select {
			case p.component <- in:
			default:
			}
		} else {
			p.component <- in
		}
		p.mu.Lock()
		h := p.onComponent
		p.mu.Unlock()
		answer(w, h, in)
	})
	mux.HandleFunc("POST /wechat/apps/{appid}", func(w http.ResponseWriter, r *http.Request) {
		in, ok := p.receive(w, r)
		if !ok {
			return
		}
		in.Fields["_appid"] = r.PathValue("appid")
		p.messages <- in
		p.mu.Lock()
		h := p.onMessage
		p.mu.Unlock()
		answer(w, h, in)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func answer(w http.ResponseWriter, h func(inbound) (int, string), in inbound) {
	status, body := http.StatusOK, "success"
	if h != nil {
		status, body = h(in)
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (p *fakePlatform) setComponentHandler(h func(inbound) (int, string)) {
	p.mu.Lock()
	p.onComponent = h
	p.mu.Unlock()
}

func (p *fakePlatform) setMessageHandler(h func(inbound) (int, string)) {
	p.mu.Lock()
	p.onMessage = h
	p.mu.Unlock()
}

// receive checks a push as a careful platform would: both signatures, the
// encrypt_type, a timestamp on the wall clock, the envelope, the receiveid.
func (p *fakePlatform) receive(w http.ResponseWriter, r *http.Request) (inbound, bool) {
	t := p.t
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	fail := func(format string, args ...any) (inbound, bool) {
		t.Errorf("platform: push to %s: "+format, append([]any{r.URL.Path}, args...)...)
		http.Error(w, "bad push", http.StatusBadRequest)
		return inbound{}, false
	}
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if !p.crypt.VerifyPlain(q.Get("signature"), ts, nonce) {
		return fail("signature does not verify")
	}
	if q.Get("encrypt_type") != "aes" {
		return fail("encrypt_type = %q", q.Get("encrypt_type"))
	}
	if _, err := strconv.ParseUint(nonce, 10, 64); err != nil {
		return fail("nonce %q is not digits", nonce)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 2*time.Minute {
		return fail("timestamp %q is not the wall clock", ts)
	}
	env, err := wxcrypt.ParseEnvelope(body)
	if err != nil {
		return fail("envelope: %v", err)
	}
	plain, err := p.crypt.Open(q.Get("msg_signature"), ts, nonce, env.Encrypt)
	if err != nil {
		return fail("open: %v", err)
	}
	fields := flatXML(t, plain)
	if r.URL.Path == "/wechat/component" && env.AppID != testComponent {
		return fail("envelope AppId = %q", env.AppID)
	}
	if r.URL.Path != "/wechat/component" && env.ToUserName != fields["ToUserName"] {
		return fail("envelope ToUserName %q differs from the message's %q", env.ToUserName, fields["ToUserName"])
	}
	return inbound{Path: r.URL.Path, Query: q, Body: body, Plain: plain, Fields: fields}, true
}

// flatXML reads WeChat's flat <xml> documents into name → text.
func flatXML(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var name string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, doc)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if v.Name.Local == "xml" {
				continue
			}
			name = v.Name.Local
			out[name] = ""
		case xml.CharData:
			if name != "" {
				out[name] += string(v)
			}
		case xml.EndElement:
			name = ""
		}
	}
}

// waitFor takes the next push from ch whose field key equals want,
// discarding others (such as tickets), or fails after 5 s.
func waitFor(t *testing.T, ch chan inbound, key, want string) inbound {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case in := <-ch:
			if in.Fields[key] == want {
				return in
			}
		case <-deadline:
			t.Fatalf("no push with %s=%q within 5s", key, want)
			return inbound{}
		}
	}
}

// testEnv is a sandbox served over real HTTP with a fake platform behind it.
type testEnv struct {
	t    *testing.T
	sb   *Sandbox
	srv  *httptest.Server
	plat *fakePlatform
	dir  string
	cfg  Config
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	plat := newFakePlatform(t)
	e := &testEnv{t: t, plat: plat, dir: t.TempDir()}
	e.cfg = Config{
		DataDir:     e.dir,
		PlatformURL: plat.srv.URL,
		Components: []Component{{AppID: testComponent, Secret: testSecret, Token: testToken, AESKey: testAESKey,
			Name: "测试服务商平台", AuthDomain: "platform.example"}},
		Logger: slog.New(slog.DiscardHandler),
	}
	e.start()
	return e
}

// start (re)creates the sandbox on e.dir and serves it.
func (e *testEnv) start() {
	e.t.Helper()
	sb, err := New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	sb.retryBackoff = 10 * time.Millisecond
	srv := httptest.NewServer(sb.Handler())
	e.sb, e.srv = sb, srv
	e.cfg.PublicURL = ""
	e.t.Cleanup(func() {
		srv.Close()
		if err := sb.Close(); err != nil {
			e.t.Errorf("Close: %v", err)
		}
	})
}

// restart stops the sandbox and starts it again from e.cfg and its state.
func (e *testEnv) restart() {
	e.t.Helper()
	e.srv.Close()
	if err := e.sb.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.start()
}

// do sends a request to the sandbox and decodes a JSON answer.
func (e *testEnv) do(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		e.t.Fatalf("%s %s: answer is not JSON (HTTP %d): %s", method, path, resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

// wx calls an emulated WeChat API; HTTP must be 200 like WeChat's.
func (e *testEnv) wx(path string, body any) map[string]any {
	e.t.Helper()
	status, out := e.do(http.MethodPost, path, body)
	if status != http.StatusOK {
		e.t.Fatalf("POST %s: HTTP %d %v", path, status, out)
	}
	return out
}

// errcode reads errcode (0 when absent, as SDKs treat success bodies).
func errcode(m map[string]any) int {
	n, ok := m["errcode"].(json.Number)
	if !ok {
		return 0
	}
	v, _ := n.Int64()
	return int(v)
}

func wantErr(t *testing.T, m map[string]any, code int) {
	t.Helper()
	if got := errcode(m); got != code {
		t.Fatalf("errcode = %d, want %d (%v)", got, code, m)
	}
	if code != 0 {
		msg, _ := m["errmsg"].(string)
		if !strings.Contains(msg, " rid: ") {
			t.Errorf("errmsg %q lacks WeChat's rid suffix", msg)
		}
	}
}

func str(m map[string]any, key string) string {
	v, _ := m[key].(string)
	return v
}

func num(m map[string]any, key string) int64 {
	n, _ := m[key].(json.Number)
	v, _ := n.Int64()
	return v
}

// ticket pushes a ticket through the control API and returns it once the
// platform received it.
func (e *testEnv) ticket() string {
	e.t.Helper()
	status, out := e.do(http.MethodPost, "/sandbox/api/ticket", nil)
	if status != http.StatusOK || num(out, "status") != 200 || out["ok"] != true {
		e.t.Fatalf("ticket: HTTP %d %v", status, out)
	}
	// Earlier tickets (pushed when the clock moved) may still be queued.
	waitFor(e.t, e.plat.component, "ComponentVerifyTicket", str(out, "ticket"))
	return str(out, "ticket")
}

func (e *testEnv) componentToken() string {
	e.t.Helper()
	out := e.wx("/cgi-bin/component/api_component_token", map[string]string{
		"component_appid": testComponent, "component_appsecret": testSecret, "component_verify_ticket": e.ticket()})
	wantErr(e.t, out, 0)
	return str(out, "component_access_token")
}

func (e *testEnv) preAuthCode(tok string) string {
	e.t.Helper()
	out := e.wx("/cgi-bin/component/api_create_preauthcode?component_access_token="+tok,
		map[string]string{"component_appid": testComponent})
	wantErr(e.t, out, 0)
	return str(out, "pre_auth_code")
}

// authURL builds the PC authorization link the way a platform does.
func authURL(path, pre string, extra url.Values) string {
	q := url.Values{"component_appid": {testComponent}, "pre_auth_code": {pre},
		"redirect_uri": {"https://platform.example/wechat/authorized?merchant=42"}}
	for k, v := range extra {
		q[k] = v
	}
	return "https://mp.weixin.qq.com" + path + "?" + q.Encode()
}

// authorize authorizes appid through the control API and returns the redirect
// and the push.
func (e *testEnv) authorize(tok, appid string, funcs []int) (*url.URL, inbound) {
	e.t.Helper()
	body := map[string]any{"url": authURL(pathLoginPage, e.preAuthCode(tok), nil), "appid": appid}
	if funcs != nil {
		body["func"] = funcs
	}
	status, out := e.do(http.MethodPost, "/sandbox/api/authorize", body)
	if status != http.StatusOK {
		e.t.Fatalf("authorize %s: HTTP %d %v", appid, status, out)
	}
	u, err := url.Parse(str(out, "redirect_url"))
	if err != nil {
		e.t.Fatal(err)
	}
	push := waitFor(e.t, e.plat.component, "AuthorizerAppid", appid)
	return u, push
}

// queryAuth exchanges an authorization code.
func (e *testEnv) queryAuth(tok, code string) map[string]any {
	e.t.Helper()
	out := e.wx("/cgi-bin/component/api_query_auth?component_access_token="+tok,
		map[string]string{"component_appid": testComponent, "authorization_code": code})
	wantErr(e.t, out, 0)
	info, _ := out["authorization_info"].(map[string]any)
	return info
}

func (e *testEnv) advance(d string) {
	e.t.Helper()
	status, out := e.do(http.MethodPost, "/sandbox/api/clock", map[string]string{"advance": d})
	if status != http.StatusOK {
		e.t.Fatalf("advance %s: HTTP %d %v", d, status, out)
	}
}

// userMessage has a user message appid and returns the control API's answer.
func (e *testEnv) userMessage(appid string, body map[string]any) map[string]any {
	e.t.Helper()
	status, out := e.do(http.MethodPost, "/sandbox/api/apps/"+appid+"/messages", body)
	if status != http.StatusOK {
		e.t.Fatalf("message to %s: HTTP %d %v", appid, status, out)
	}
	return out
}

func customText(touser, content string) map[string]any {
	return map[string]any{"touser": touser, "msgtype": "text", "text": map[string]string{"content": content}}
}

// entryPage is the platform's page with the 授权 button, on the test
// component's 授权发起页域名: WeChat opens its pages only from there.
const entryPage = "https://platform.example/authorize"

// getPage fetches a page as a browser following a link on the platform's
// entry page would.
func getPage(t *testing.T, u string) (int, string) {
	t.Helper()
	return getPageFrom(t, u, entryPage)
}

// getPageFrom fetches a page as a browser following a link on referer would.
func getPageFrom(t *testing.T, u, referer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if referer != "" {
		req.Header.Set("Referer", referer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}
