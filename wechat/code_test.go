package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// codeServer records each request and answers with the body set for its path.
type codeServer struct {
	mu      sync.Mutex
	answers map[string]string
	ctype   map[string]string
	got     []codeRequest
}

type codeRequest struct {
	method, path, token, query string
	body                       string
}

func (s *codeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	tok := q.Get("access_token")
	q.Del("access_token")
	s.mu.Lock()
	s.got = append(s.got, codeRequest{r.Method, r.URL.Path, tok, q.Encode(), string(b)})
	ans, ok := s.answers[r.URL.Path]
	ct := s.ctype[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		ans = `{"errcode":0,"errmsg":"ok"}`
	}
	if ct == "" {
		ct = "application/json; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	io.WriteString(w, ans)
}

func (s *codeServer) last(t *testing.T) codeRequest {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		t.Fatal("no request reached the server")
	}
	return s.got[len(s.got)-1]
}

func newCodeClient(t *testing.T, s *codeServer) *Client {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return New(Options{Hosts: SingleHost(srv.URL)})
}

// Each call goes out with WeChat's method, path, token and body shape
// (docs/wechat-code.md).
func TestCodeCallsOnTheWire(t *testing.T) {
	ctx := context.Background()
	ts := StaticToken("AT")
	cases := []struct {
		name                string
		call                func(c *Client) error
		method, path, query string
		body                string // exact JSON, "" for no body
	}{
		{"addtotemplate", func(c *Client) error { return c.AddToTemplate(ctx, ts, 7, TemplateNormal) },
			"POST", pathAddToTemplate, "", `{"draft_id":7,"template_type":0}`},
		{"gettemplatelist all", func(c *Client) error { _, err := c.Templates(ctx, ts, -1); return err },
			"GET", pathTemplateList, "", ""},
		{"gettemplatelist normal", func(c *Client) error { _, err := c.Templates(ctx, ts, 0); return err },
			"GET", pathTemplateList, "template_type=0", ""},
		{"commit: ext_json is a string", func(c *Client) error {
			return c.Commit(ctx, ts, CommitRequest{TemplateID: 3, ExtJSON: `{"extAppid":"wxa"}`, UserVersion: "1.0.1", UserDesc: "修复"})
		}, "POST", pathCommit, "", `{"template_id":3,"ext_json":"{\"extAppid\":\"wxa\"}","user_version":"1.0.1","user_desc":"修复"}`},
		{"release: body {}", func(c *Client) error { return c.Release(ctx, ts) }, "POST", pathRelease, "", `{}`},
		{"revert to a version", func(c *Client) error { return c.RevertRelease(ctx, ts, 12) },
			"GET", pathRevertRelease, "app_version=12", ""},
		{"history", func(c *Client) error { _, err := c.ReleaseHistory(ctx, ts); return err },
			"GET", pathRevertRelease, "action=get_history_version", ""},
		{"undo", func(c *Client) error { return c.UndoAudit(ctx, ts) }, "GET", pathUndoAudit, "", ""},
		{"gray", func(c *Client) error { return c.GrayRelease(ctx, ts, GrayReleaseRequest{GrayPercentage: 10}) },
			"POST", pathGrayRelease, "", `{"gray_percentage":10}`},
		{"domain get", func(c *Client) error { _, err := c.ModifyDomain(ctx, ts, "get", Domains{}); return err },
			"POST", pathModifyDomain, "", `{"action":"get"}`},
		{"unbind by userstr", func(c *Client) error { return c.UnbindTester(ctx, ts, "", "u1") },
			"POST", pathUnbindTester, "", `{"userstr":"u1"}`},
		{"memberauth", func(c *Client) error { _, err := c.Testers(ctx, ts); return err },
			"POST", pathMemberAuth, "", `{"action":"get_experiencer"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &codeServer{}
			c := newCodeClient(t, s)
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			got := s.last(t)
			if got.method != tc.method || got.path != tc.path || got.query != tc.query || got.token != "AT" {
				t.Errorf("sent %s %s ?%s token %q; want %s %s ?%s token AT", got.method, got.path, got.query, got.token, tc.method, tc.path, tc.query)
			}
			if got.body != tc.body {
				t.Errorf("body %s, want %s", got.body, tc.body)
			}
		})
	}
}

func TestCommitRefusesInvalidExtJSON(t *testing.T) {
	s := &codeServer{}
	c := newCodeClient(t, s)
	err := c.Commit(context.Background(), StaticToken("AT"), CommitRequest{TemplateID: 1, ExtJSON: `{"extAppid":`})
	if err == nil {
		t.Fatal("an ext_json that is not JSON was sent")
	}
	if len(s.got) != 0 {
		t.Fatal("the request reached WeChat")
	}
}

func TestSubmitAuditAndStatus(t *testing.T) {
	s := &codeServer{answers: map[string]string{
		pathSubmitAudit:       `{"errcode":0,"errmsg":"ok","auditid":1234567}`,
		pathLatestAuditStatus: `{"errcode":0,"errmsg":"ok","auditid":1234567,"status":1,"reason":"内容不符<br>请修改","ScreenShot":"m1|m2","user_version":"1.0.1","submit_audit_time":1700000000}`,
		pathAuditStatus:       `{"errcode":0,"errmsg":"ok","status":2}`,
	}}
	c := newCodeClient(t, s)
	ctx, ts := context.Background(), StaticToken("AT")
	id, err := c.SubmitAudit(ctx, ts, SubmitAuditRequest{VersionDesc: "v"})
	if err != nil || id != 1234567 {
		t.Fatalf("SubmitAudit = %d, %v", id, err)
	}
	if b := s.last(t).body; b != `{"version_desc":"v"}` {
		t.Errorf("submit_audit body %s", b)
	}
	st, err := c.LatestAuditStatus(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != AuditRejected || st.ScreenShot != "m1|m2" || st.Reason != "内容不符<br>请修改" || st.UserVersion != "1.0.1" {
		t.Errorf("latest = %+v", st)
	}
	st, err = c.AuditStatusOf(ctx, ts, 99)
	if err != nil || st.Status != AuditPending || st.AuditID != 99 {
		t.Fatalf("AuditStatusOf = %+v, %v", st, err)
	}
	var body map[string]any
	json.Unmarshal([]byte(s.last(t).body), &body)
	if body["auditid"] != float64(99) {
		t.Errorf("get_auditstatus body %s", s.last(t).body)
	}
}

func TestCodeErrorsAreTyped(t *testing.T) {
	s := &codeServer{answers: map[string]string{
		pathSubmitAudit: `{"errcode":85009,"errmsg":"already submit a version rid: 1-2-3"}`,
		pathGetQRCode:   `{"errcode":86001,"errmsg":"no code rid: 1-2-4"}`,
	}, ctype: map[string]string{pathGetQRCode: "text/plain"}}
	c := newCodeClient(t, s)
	ctx, ts := context.Background(), StaticToken("AT")
	_, err := c.SubmitAudit(ctx, ts, SubmitAuditRequest{})
	var we *Error
	if !errors.As(err, &we) || we.Code != CodeAuditInProgress || we.RID != "1-2-3" {
		t.Fatalf("submit_audit error = %v", err)
	}
	if _, _, err := c.QRCode(ctx, ts, ""); !errors.As(err, &we) || we.Code != CodeNoCommittedCode {
		t.Fatalf("get_qrcode error = %v", err)
	}
}

func TestQRCodeIsAnImage(t *testing.T) {
	png := "\x89PNG\r\n\x1a\n...."
	s := &codeServer{answers: map[string]string{pathGetQRCode: png}, ctype: map[string]string{pathGetQRCode: "image/png"}}
	c := newCodeClient(t, s)
	img, ct, err := c.QRCode(context.Background(), StaticToken("AT"), "pages/index/index?a=1")
	if err != nil || string(img) != png || ct != "image/png" {
		t.Fatalf("QRCode = %q %q %v", img, ct, err)
	}
	if q := s.last(t).query; q != "path=pages%2Findex%2Findex%3Fa%3D1" {
		t.Errorf("query %s", q)
	}
}
