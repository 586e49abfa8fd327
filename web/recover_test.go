package web

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A panicking handler answers 500: on an API path in the one error shape
// with the request's id, on a console page as text naming that id. The panic
// is logged with the request id, and neither the query nor the
// Authorization header reaches the log.
func TestRecoverAnswersTheErrorShape(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(ContextLogHandler{slog.NewJSONHandler(&logs, nil)})
	h := RequestID(logger, Recover(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Partial", "1")
		panic("boom in the handler")
	})))

	for _, path := range []string{"/api/v1/tenants/7", "/runtime/v1/me"} {
		logs.Reset()
		req := httptest.NewRequest("GET", path+"?auth_code=querysecret", nil)
		req.Header.Set("Authorization", "Bearer headersecret")
		req.Header.Set(RequestIDHeader, "panic-req-1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Code != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", path, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q, want JSON", path, ct)
		}
		if got := rec.Header().Get(RequestIDHeader); got != "panic-req-1" {
			t.Errorf("%s: X-Request-Id %q, want panic-req-1", path, got)
		}
		var body ErrorBody
		dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("%s: body %q is not the error shape: %v", path, rec.Body, err)
		}
		if body.Code != "internal" || body.RequestID != "panic-req-1" || isASCII(body.Message) || body.MessageEN == "" || !isASCII(body.MessageEN) {
			t.Errorf("%s: body %+v, want code internal, a Chinese message, its English and the request id", path, body)
		}

		var panicLine map[string]any
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line %q: %v", l, err)
			}
			if m["msg"] == "panic serving request" {
				panicLine = m
			}
		}
		if panicLine == nil {
			t.Fatalf("%s: no panic logged:\n%s", path, logs.String())
		}
		if panicLine["level"] != "ERROR" || panicLine["request_id"] != "panic-req-1" || panicLine["panic"] != "boom in the handler" || panicLine["path"] != path {
			t.Errorf("%s: panic log line %v, want level ERROR, the request id, the panic and the path", path, panicLine)
		}
		if s, _ := panicLine["stack"].(string); !strings.Contains(s, "recover_test.go") {
			t.Errorf("%s: the panic log line has no stack through the handler: %q", path, s)
		}
		for _, secret := range []string{"querysecret", "headersecret"} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("%s: the log carries %s:\n%s", path, secret, logs.String())
			}
		}
	}

	// A console page: text, not JSON, with the id to quote.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/tenants/7", nil)
	req.Header.Set(RequestIDHeader, "panic-req-2")
	h.ServeHTTP(rec, req)
	if rec.Code != 500 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") ||
		!strings.Contains(rec.Body.String(), "panic-req-2") || !strings.Contains(rec.Body.String(), "服务器内部错误") {
		t.Errorf("console page: %d %q %q, want a bilingual text 500 naming the request id", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}

	// A handler that had begun its answer keeps it: no second one is appended.
	logs.Reset()
	h = RequestID(logger, Recover(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		panic("late boom")
	})))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/platforms", nil))
	if rec.Code != 200 || rec.Body.String() != "partial" {
		t.Errorf("a started answer: %d %q, want the handler's 200 \"partial\" untouched", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "late boom") {
		t.Errorf("the late panic is not logged:\n%s", logs.String())
	}
}
