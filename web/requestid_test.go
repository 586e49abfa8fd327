package web

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
)

// Every response carries X-Request-Id; an error body names the same id, and
// the request's log line does too.
func TestRequestIDOnResponsesErrorsAndLogs(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(ContextLogHandler{slog.NewJSONHandler(&logs, nil)})
	s := &Server{Logger: logger}
	h := RequestID(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.apiError(w, r, wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个租户 / no such tenant: 7"))
	}))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/tenants/7?secret=x", nil))
	id := rec.Header().Get(RequestIDHeader)
	if len(id) != 24 {
		t.Fatalf("X-Request-Id %q, want a new 24-hex id", id)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"code": "not_found", "message": "没有这个租户", "message_en": "no such tenant: 7", "request_id": id}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%q] = %v, want %v (body %s)", k, body[k], v, rec.Body)
		}
	}
	if rec.Code != 404 {
		t.Errorf("status %d, want 404", rec.Code)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log lines:\n%s\nwant the error's and the request's", logs.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, `"request_id":"`+id+`"`) {
			t.Errorf("log line without the request id %s: %s", id, l)
		}
		if strings.Contains(l, "secret=x") {
			t.Errorf("log line carries the query: %s", l)
		}
	}

	// A caller's own id is kept; a malformed one is replaced.
	for in, keep := range map[string]bool{"req-123.abc_D": true, "bad id\n": false, strings.Repeat("a", 65): false} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/x", nil)
		req.Header.Set(RequestIDHeader, in)
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get(RequestIDHeader); (got == in) != keep || got == "" {
			t.Errorf("incoming %q → %q, kept=%v want %v", in, got, got == in, keep)
		}
	}
}

// A message without a Chinese/English pair stays whole.
func TestErrorBodyKeepsUnpairedMessage(t *testing.T) {
	for msg, want := range map[string]ErrorBody{
		"path a / b": {Code: "invalid", Message: "path a / b"},
		"只有中文":       {Code: "invalid", Message: "只有中文"},
		"请求体超过 10 字节 / body over 10": {Code: "invalid", Message: "请求体超过 10 字节", MessageEN: "body over 10"},
	} {
		if got := NewErrorBody("invalid", msg, ""); got != want {
			t.Errorf("%q → %+v, want %+v", msg, got, want)
		}
	}
}
