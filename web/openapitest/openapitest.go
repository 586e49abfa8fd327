// Package openapitest holds the API to its description (web/openapi/, served
// at GET /api/v1/openapi.json): it loads the document with pb33f's
// libopenapi, checks it against the OpenAPI 3.1 schema, validates real
// requests and responses with libopenapi-validator, and finds the route
// patterns the code registers. Tests only: nothing in the binary imports it.
package openapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/wxfleet/wxfleet/web"
)

// Operation is one documented operation.
type Operation struct {
	ID     string // operationId
	Method string // GET, POST, …
	Path   string // the documented path: /api/v1/rollouts/{id}/pause
	// Route is the registered pattern that serves it: "POST /api/v1/rollouts/{id}/{action}"
	// (the path itself unless the path item says otherwise in x-wxfleet-route).
	Route   string
	Public  bool   // security: [] or an alternative {} — no token needed
	Summary string // "中文 / English"
}

func (o Operation) String() string { return o.Method + " " + o.Path }

// Doc is the loaded description with its validator. It counts which
// operations had a successful exchange validated (RequireSamples).
type Doc struct {
	Operations []Operation
	model      *v3.Document
	v          validator.Validator
	opts       *config.ValidationOptions

	mu      sync.Mutex
	sampled map[string][]int // operation → statuses validated
}

var methods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

// Load builds the served description, fails t on any error of the model
// build or of the document against the OpenAPI 3.1 schema, and checks what
// the schema cannot: every operation has an operationId and a bilingual
// summary, and every response declares X-Request-Id.
func Load(t testing.TB) *Doc {
	t.Helper()
	raw, err := web.OpenAPI()
	if err != nil {
		t.Fatalf("the API description (web/openapi/) does not merge: %v", err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatalf("libopenapi cannot read the API description: %v", err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("libopenapi cannot build the API description's model: %v", err)
	}
	if model == nil {
		t.Fatal("libopenapi built no model of the API description")
	}
	opts := []config.Option{config.WithFormatAssertions()}
	v, errs := validator.NewValidator(doc, opts...)
	if len(errs) > 0 {
		t.Fatalf("libopenapi-validator refuses the API description: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		var b strings.Builder
		for _, e := range verrs {
			fmt.Fprintf(&b, "\n  %s", e.Error())
		}
		t.Fatalf("the API description is not valid OpenAPI 3.1:%s", b.String())
	}
	d := &Doc{model: &model.Model, v: v, opts: config.NewValidationOptions(opts...), sampled: map[string][]int{}}
	d.Operations = lint(t, raw)
	return d
}

// lint lists the operations from the raw JSON and checks the house rules.
func lint(t testing.TB, raw []byte) []Operation {
	t.Helper()
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Responses map[string]response `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []Operation
	ids := map[string]string{}
	for p, item := range doc.Paths {
		if !strings.HasPrefix(p, "/api/v1/") && !strings.HasPrefix(p, "/runtime/v1/") {
			t.Errorf("documented path %s is outside /api/v1 and /runtime/v1", p)
		}
		route := p
		if x, ok := item[web.OpenAPIRouteExtension]; ok {
			if err := json.Unmarshal(x, &route); err != nil {
				t.Errorf("%s: %s must be a string: %v", p, web.OpenAPIRouteExtension, err)
			}
		}
		for _, m := range methods {
			rawOp, ok := item[m]
			if !ok {
				continue
			}
			var op struct {
				ID        string              `json:"operationId"`
				Summary   string              `json:"summary"`
				Security  *[]json.RawMessage  `json:"security"`
				Responses map[string]response `json:"responses"`
			}
			if err := json.Unmarshal(rawOp, &op); err != nil {
				t.Errorf("%s %s: %v", strings.ToUpper(m), p, err)
				continue
			}
			o := Operation{ID: op.ID, Method: strings.ToUpper(m), Path: p, Route: strings.ToUpper(m) + " " + route, Summary: op.Summary}
			if op.Security != nil {
				// security: [] or one alternative {}: no token needed.
				o.Public = len(*op.Security) == 0 || slices.ContainsFunc(*op.Security, func(r json.RawMessage) bool { return string(r) == "{}" })
			}
			if o.ID == "" {
				t.Errorf("%s has no operationId", o)
			} else if other, dup := ids[o.ID]; dup {
				t.Errorf("%s and %s share the operationId %s", o, other, o.ID)
			}
			ids[o.ID] = o.String()
			if zh, en, ok := strings.Cut(op.Summary, " / "); !ok || isASCII(zh) || en == "" {
				t.Errorf("%s: the summary %q is not \"中文 / English\" (a space on both sides of the slash)", o, op.Summary)
			}
			hasSuccess := false
			for code, r := range op.Responses {
				if strings.HasPrefix(code, "2") {
					hasSuccess = true
				}
				if r.Ref != "" {
					name := strings.TrimPrefix(r.Ref, "#/components/responses/")
					r = doc.Components.Responses[name]
				}
				if _, ok := r.Headers[web.RequestIDHeader]; !ok {
					t.Errorf("%s: response %s does not declare the %s header", o, code, web.RequestIDHeader)
				}
			}
			if !hasSuccess {
				t.Errorf("%s documents no 2xx response", o)
			}
			if _, ok := op.Responses["default"]; !ok {
				t.Errorf("%s has no default (error) response", o)
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	return ops
}

type response struct {
	Ref     string                     `json:"$ref"`
	Headers map[string]json.RawMessage `json:"headers"`
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Operation returns the operation "METHOD /documented/path", failing t when
// there is none.
func (d *Doc) Operation(t testing.TB, key string) Operation {
	t.Helper()
	for _, o := range d.Operations {
		if o.String() == key {
			return o
		}
	}
	t.Fatalf("the API description has no operation %s", key)
	return Operation{}
}

// Exchange is one request with its answer, bodies read.
type Exchange struct {
	Request     *http.Request
	RequestBody []byte
	Response    *http.Response
	Body        []byte
}

// Check validates x against the operation key ("GET /api/v1/rollouts/{id}"):
// the request (parameters, body, security) unless the test sent a bad one
// on purpose (badRequest), and the response (status, headers, body). A
// failure names the operation and what differs.
func (d *Doc) Check(t testing.TB, key string, x Exchange, badRequest bool) {
	t.Helper()
	op := d.Operation(t, key)
	item := d.model.Paths.PathItems.GetOrZero(op.Path)
	if item == nil {
		t.Fatalf("%s: libopenapi's model has no path %s", key, op.Path)
	}
	name := fmt.Sprintf("%s (sent %s %s, answered %d)", key, x.Request.Method, x.Request.URL.RequestURI(), x.Response.StatusCode)
	if !strings.Contains(op.Route, "...}") {
		// The validator's own router must find the operation this sample
		// is for: two documented paths that match one request would be
		// ambiguous to clients too.
		if _, errs, found := paths.FindPath(x.Request, d.model, d.opts); len(errs) > 0 || found != op.Path {
			t.Errorf("%s: the validator routes this request to %q, not %s: %v", name, found, op.Path, errs)
		}
	}
	reset := func() {
		x.Request.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
		x.Response.Body = io.NopCloser(bytes.NewReader(x.Body))
	}
	if !badRequest {
		reset()
		if ok, errs := d.v.ValidateHttpRequestSyncWithPathItem(oneSegmentTail(x.Request, op), item, op.Path); !ok {
			t.Errorf("%s: the request does not match the description:%s", name, describe(errs))
		}
	}
	reset()
	ok, errs := d.v.GetResponseBodyValidator().ValidateResponseBodyWithPathItem(x.Request, x.Response, item, op.Path)
	if !ok {
		t.Errorf("%s: the response does not match the description:%s\n  body: %s", name, describe(errs), clip(x.Body))
	}
	// The validator checks a declared header when present; X-Request-Id
	// must be there on every answer.
	if x.Response.Header.Get(web.RequestIDHeader) == "" {
		t.Errorf("%s: no %s header", name, web.RequestIDHeader)
	}
	if ok && !badRequest && x.Response.StatusCode/100 == 2 {
		d.mu.Lock()
		d.sampled[key] = append(d.sampled[key], x.Response.StatusCode)
		d.mu.Unlock()
	}
}

// oneSegmentTail is r for the validator: a route ending in a {name...}
// wildcard takes a tail of several segments (wxa/get_category), which an
// OpenAPI path parameter cannot; the clone has that tail as one segment so
// that the other parameters, the body and the security are checked.
func oneSegmentTail(r *http.Request, op Operation) *http.Request {
	if !strings.HasSuffix(op.Route, "...}") {
		return r
	}
	keep := strings.Count(op.Path, "/") // segments before the documented {name}
	segs := strings.SplitN(r.URL.Path, "/", keep+1)
	if len(segs) <= keep {
		return r
	}
	c := r.Clone(r.Context())
	c.Body = r.Body
	u := *r.URL
	u.Path = strings.Join(segs[:keep], "/") + "/" + strings.ReplaceAll(segs[keep], "/", "~")
	u.RawPath = ""
	c.URL = &u
	return c
}

func describe[E interface{ Error() string }](errs []E) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s", e.Error())
	}
	return b.String()
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// RequireSamples fails t for every operation that had no successful (2xx)
// exchange validated through Check.
func (d *Doc) RequireSamples(t testing.TB) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, o := range d.Operations {
		if len(d.sampled[o.String()]) == 0 {
			t.Errorf("%s: no successful response of it was validated: add a sample to the OpenAPI samples test (docs/api.md)", o)
		}
	}
}

// Concrete fills a documented path's {parameters} with value.
func Concrete(path, value string) string {
	return paramRE.ReplaceAllString(path, value)
}

var paramRE = regexp.MustCompile(`\{[^}]+\}`)

// SourceRoute is a route pattern written in the code.
type SourceRoute struct {
	Pattern string // "GET /api/v1/platforms"
	At      string // file:line
}

// routeRE is a pattern of an API route: a method, then /api/v1/ or /runtime/v1/.
var routeRE = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /(api|runtime)/v1/\S*$`)

// SourceRoutes finds every string literal in the module's Go code (tests
// and the sandbox, a separate house, left out) that is an /api/v1 or
// /runtime/v1 route pattern with its method. Patterns are written as one
// literal (docs/api.md) so that this finds every one, whichever feature
// registers it.
func SourceRoutes(t testing.TB) []SourceRoute {
	t.Helper()
	root := moduleRoot(t)
	var out []SourceRoute
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			rel, _ := filepath.Rel(root, p)
			if rel == "sandbox" || rel == "vendor" || strings.HasPrefix(e.Name(), ".") || e.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && routeRE.MatchString(s) {
				pos := fset.Position(lit.Pos())
				rel, _ := filepath.Rel(root, pos.Filename)
				out = append(out, SourceRoute{Pattern: s, At: fmt.Sprintf("%s:%d", rel, pos.Line)})
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("found no route pattern under %s", root)
	}
	slices.SortFunc(out, func(a, b SourceRoute) int { return strings.Compare(a.Pattern, b.Pattern) })
	return out
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = up
	}
}

// Undocumented reads web/openapi/undocumented.txt: the routes that landed
// before their description did, one pattern a line ("#" starts a comment).
// It is a debt list, and it only shrinks: the route test names each one
// still owed, and fails for a listed route that is documented (take it off)
// or no longer written in the code.
func Undocumented(t testing.TB) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "web", "openapi", "undocumented.txt"))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			out[strings.TrimSpace(l)] = true
		}
	}
	return out
}
