package server

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/web/openapitest"
)

// The API description and the wired server's routes are the same set: every
// /api/v1 and /runtime/v1 pattern written in the code is documented, and
// every documented operation is served by the very pattern its path (or its
// x-wxfleet-route) names, not by the catch-all. Patterns are found in the
// source because a feature registers straight on the mux.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := openapitest.Load(t)
	srv := boot(t, storetest.SQLite)

	documented := map[string][]openapitest.Operation{}
	for _, op := range doc.Operations {
		documented[op.Route] = append(documented[op.Route], op)
	}
	written := map[string]string{}
	owed := openapitest.Undocumented(t)
	for _, r := range openapitest.SourceRoutes(t) {
		if at, dup := written[r.Pattern]; dup {
			t.Errorf("route %s is written twice: %s and %s", r.Pattern, at, r.At)
		}
		written[r.Pattern] = r.At
		switch {
		case len(documented[r.Pattern]) > 0 && owed[r.Pattern]:
			t.Errorf("route %s is documented: take it off web/openapi/undocumented.txt", r.Pattern)
		case len(documented[r.Pattern]) == 0 && owed[r.Pattern]:
			t.Logf("still owed a description (web/openapi/undocumented.txt): %s (%s)", r.Pattern, r.At)
		case len(documented[r.Pattern]) == 0:
			t.Errorf("route %s (%s) is not in the API description: document it in web/openapi/ (see docs/api.md)", r.Pattern, r.At)
		}
	}
	for p := range owed {
		if _, ok := written[p]; !ok {
			t.Errorf("web/openapi/undocumented.txt lists %s, which the code no longer has: take it off", p)
		}
	}
	for _, op := range doc.Operations {
		req := httptest.NewRequest(op.Method, openapitest.Concrete(op.Path, "x1"), nil)
		if _, pattern := srv.mux.Handler(req); pattern != op.Route {
			t.Errorf("documented %s is not served by %s: the server's mux answers %s %s with the route %q", op, op.Route, req.Method, req.URL.Path, pattern)
		}
		if _, ok := written[op.Route]; !ok {
			t.Errorf("documented %s: its route %s is not written as one string literal in the code (see docs/api.md), so this test cannot tell that every route is documented", op, op.Route)
		}
	}
}

// The console's API reference is behind the console session and shows
// every documented operation: its method, path and both halves of its
// summary.
func TestAPIReferencePage(t *testing.T) {
	doc := openapitest.Load(t)
	srv := boot(t, storetest.SQLite)
	if resp := do(t, "GET", srv.URL()+"/docs/api", nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("/docs/api without a session: %d %s, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := login(t, srv)
	resp := do(t, "GET", srv.URL()+"/docs/api", nil, "Cookie", c.Name+"="+c.Value)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/docs/api: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	page := html.UnescapeString(string(body))
	for _, op := range doc.Operations {
		i := strings.Index(page, `id="`+op.ID+`"`)
		if i < 0 {
			t.Errorf("the reference page has no entry for %s", op)
			continue
		}
		entry := page[i:]
		if end := strings.Index(entry[1:], `<div class="op"`); end > 0 {
			entry = entry[:end]
		}
		zh, en, _ := strings.Cut(op.Summary, " / ")
		if !strings.Contains(entry, ">"+op.Method+"<") || !strings.Contains(entry, op.Path) || !strings.Contains(entry, zh) || !strings.Contains(entry, en) {
			t.Errorf("the reference page's entry %s does not show %s with its summary %q", op.ID, op, op.Summary)
		}
	}
	for _, want := range []string{"X-Request-Id", "request_id", "必填 required", "ticket_valid", "AuthorizerStatus"} {
		if !strings.Contains(page, want) {
			t.Errorf("the reference page does not show %q", want)
		}
	}
}
