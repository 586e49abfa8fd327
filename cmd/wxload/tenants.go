package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet/store"
)

// TenantsSettings shape a run of "wxload tenants".
type TenantsSettings struct {
	Tenants, Authorizers int
	Requests             int // timed requests per page kind
	Warmup               int // untimed requests per page kind first
	Database             string
	Data                 string
	Target, AdminToken   string
}

// PageFigures are one page kind's latencies through the HTTP API.
type PageFigures struct {
	Name     string  `json:"name"`
	Path     string  `json:"path"`
	Requests int     `json:"requests"`
	P50      float64 `json:"p50_ms"`
	P95      float64 `json:"p95_ms"`
	Max      float64 `json:"max_ms"`
}

// TenantsReport is what "wxload tenants" measured.
type TenantsReport struct {
	Database    string        `json:"database"`
	Tenants     int           `json:"tenants"`
	Authorizers int           `json:"authorizers"`
	Seeded      string        `json:"seeded,omitempty"` // how long seeding took; "" against --target
	Pages       []PageFigures `json:"pages"`
	CPUs        int           `json:"cpus"`
	GoVersion   string        `json:"go_version"`
}

func runTenants(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenants", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s TenantsSettings
	fs.IntVar(&s.Tenants, "tenants", 20_000, "tenants to seed (with --target: how many the server was seeded with)")
	fs.IntVar(&s.Authorizers, "authorizers", 100_000, "authorizers to seed, spread over the tenants (with --target: as seeded)")
	fs.IntVar(&s.Requests, "n", 50, "timed requests per page kind")
	fs.IntVar(&s.Warmup, "warmup", 3, "untimed requests per page kind before the timed ones")
	fs.StringVar(&s.Database, "database", "", "postgres://... on loopback (a fresh schema is made and dropped); default SQLite in a temporary directory")
	fs.StringVar(&s.Data, "data", "", "directory for the SQLite database (default: a temporary one, removed)")
	fs.StringVar(&s.Target, "target", "", "measure a server already running on loopback, seeded by `wxfleet demo --seed-tenants N --seed-authorizers M` (no seeding here)")
	fs.StringVar(&s.AdminToken, "admin-token", "", "the --target server's admin token")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	rep, err := tenantsBenchmark(ctx, s, stderr)
	if rep != nil {
		if *asJSON {
			writeJSON(stdout, rep)
		} else {
			printTenants(stdout, rep)
		}
	}
	return err
}

func (s *TenantsSettings) check(ctx context.Context) error {
	switch {
	case s.Tenants < 100 || s.Tenants > 1_000_000 || s.Authorizers < s.Tenants || s.Authorizers > 1_000_000:
		return errors.New("-tenants 100 to 1000000, -authorizers at least as many, at most 1000000")
	case s.Requests < 1 || s.Warmup < 0:
		return errors.New("-n ≥ 1, -warmup ≥ 0")
	case s.Target != "" && (s.Database != "" || s.Data != ""):
		return errors.New("--target measures a running server: no -database or -data")
	case s.Target != "" && s.AdminToken == "":
		return errors.New("--target needs --admin-token")
	}
	if s.Database == "" {
		return nil
	}
	u, err := url.Parse(s.Database)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("-database %q: a postgres:// URL", s.Database)
	}
	_, err = loopbackIP(ctx, u.Hostname())
	return err
}

// tenantsBenchmark boots and seeds a platform (or takes --target), then asks
// each page kind s.Requests times, one request at a time.
func tenantsBenchmark(ctx context.Context, s TenantsSettings, stderr io.Writer) (*TenantsReport, error) {
	rep := &TenantsReport{Database: "sqlite", Tenants: s.Tenants, Authorizers: s.Authorizers, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	base, token := s.Target, s.AdminToken
	if s.Target == "" {
		dsn := ""
		switch {
		case s.Database != "":
			fresh, drop, err := freshPostgresSchema(ctx, s.Database)
			if err != nil {
				return nil, err
			}
			defer drop()
			dsn, rep.Database = fresh, "postgres"
		default:
			dir := s.Data
			if dir == "" {
				tmp, err := os.MkdirTemp("", "wxload-tenants-")
				if err != nil {
					return nil, err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			dsn = dir + "/wxfleet.db"
		}
		creds := defaultCredentials()
		stderr = &lockedWriter{w: stderr} // the platform's goroutines log beside this one's progress
		p, err := startPlatformOn(ctx, dsn, creds, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})))
		if err != nil {
			return nil, err
		}
		defer p.Close()
		fmt.Fprintf(stderr, "seeding %d tenants and %d authorizers (%s)...\n", s.Tenants, s.Authorizers, rep.Database)
		res, err := p.Server.Store.Seed(ctx, store.SeedOptions{ComponentAppID: creds.ComponentAppID, Tenants: s.Tenants, Authorizers: s.Authorizers, Now: time.Now()})
		if err != nil {
			return nil, fmt.Errorf("seeding: %w", err)
		}
		rep.Seeded = res.Took.Round(time.Millisecond).String()
		base, token = p.URL, p.AdminToken
	} else {
		rep.Database = "target " + s.Target
	}
	api, err := newAPIClient(ctx, base, token)
	if err != nil {
		return nil, err
	}
	for _, pg := range tenantPages(s.Tenants, s.Authorizers) {
		f, err := measurePage(ctx, api, pg, s.Warmup, s.Requests)
		if err != nil {
			return rep, err
		}
		rep.Pages = append(rep.Pages, f)
	}
	return rep, nil
}

// tenantPage is one kind of list or detail page, and what its answer must
// hold: a page answering fast with the wrong rows measures nothing.
type tenantPage struct {
	name, path string
	check      func(body map[string]any) error
}

// tenantPages are the page kinds at the seeded scale: store.Seed numbers the
// tenants from 1 and names them "merchant %05d", gives each the same number
// of authorizers, and names those SeedAppIDPrefix and ten digits.
func tenantPages(tenants, authorizers int) []tenantPage {
	items := func(want int, total *bool) func(map[string]any) error {
		return func(b map[string]any) error {
			list, _ := b["items"].([]any)
			if want >= 0 && len(list) != want {
				return fmt.Errorf("%d items, want %d", len(list), want)
			}
			if want < 0 && len(list) == 0 {
				return errors.New("no items")
			}
			if total != nil {
				if _, ok := b["total"]; ok != *total {
					return fmt.Errorf("total present: %v, want %v", ok, *total)
				}
			}
			return nil
		}
	}
	yes, no := true, false
	deep := "/api/v1/authorizers?limit=100&cursor=" + fmt.Sprintf("%s%010d", store.SeedAppIDPrefix, authorizers-150)
	one := strconv.Itoa(tenants / 2)
	perTenant := authorizers / tenants
	return []tenantPage{
		{"tenants, first page", "/api/v1/tenants?limit=50", items(50, nil)},
		{"tenants, last page (cursor)", "/api/v1/tenants?limit=50&cursor=" + strconv.Itoa(tenants-40), items(40, nil)},
		{"tenants by tag", "/api/v1/tenants?limit=50&tag=vip&cursor=" + strconv.Itoa(tenants/2), items(-1, nil)},
		{"tenants by status", "/api/v1/tenants?limit=50&status=trial", items(-1, nil)},
		{"tenants by name (q)", "/api/v1/tenants?limit=50&q=" + url.QueryEscape(fmt.Sprintf("merchant %05d", tenants-1)), items(1, nil)},
		{"one tenant (apps, plan, sub.)", "/api/v1/tenants/" + one, func(b map[string]any) error {
			if list, _ := b["authorizers"].([]any); len(list) != perTenant {
				return fmt.Errorf("%d authorizers, want %d", len(list), perTenant)
			}
			return nil
		}},
		{"authorizers, first page (total)", "/api/v1/authorizers?limit=100", items(100, &yes)},
		{"authorizers, first page, total=false", "/api/v1/authorizers?limit=100&total=false", items(100, &no)},
		{"authorizers, deep page (cursor)", deep, items(100, &no)},
		{"authorizers, deep page, total=true", deep + "&total=true", items(100, &yes)},
		{"authorizers of one tenant", "/api/v1/authorizers?tenant_id=" + one, items(perTenant, &yes)},
	}
}

// measurePage asks pg warmup times untimed, then n times timed, one at a
// time; every answer must be 200 and pass pg.check.
func measurePage(ctx context.Context, api *apiClient, pg tenantPage, warmup, n int) (PageFigures, error) {
	f := PageFigures{Name: pg.name, Path: pg.path, Requests: n}
	times := make([]time.Duration, 0, n)
	for i := range warmup + n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.base+pg.path, nil)
		if err != nil {
			return f, err
		}
		req.Header.Set("Authorization", "Bearer "+api.token)
		began := time.Now()
		resp, err := api.http.Do(req)
		if err != nil {
			return f, fmt.Errorf("%s: %w", pg.path, err)
		}
		var body map[string]any
		derr := json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		took := time.Since(began)
		if resp.StatusCode != http.StatusOK || derr != nil {
			return f, fmt.Errorf("%s: HTTP %d (%v)", pg.path, resp.StatusCode, derr)
		}
		if err := pg.check(body); err != nil {
			return f, fmt.Errorf("%s: %w", pg.path, err)
		}
		if i >= warmup {
			times = append(times, took)
		}
	}
	slices.Sort(times)
	f.P50, f.P95, f.Max = ms(percentile(times, 0.5)), ms(percentile(times, 0.95)), ms(times[len(times)-1])
	return f, nil
}

func printTenants(w io.Writer, r *TenantsReport) {
	fmt.Fprintf(w, "tenant and authorizer pages through the HTTP API: %d tenants, %d authorizers, %s", r.Tenants, r.Authorizers, r.Database)
	if r.Seeded != "" {
		fmt.Fprintf(w, " (seeded in %s)", r.Seeded)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-38s %9s %9s %9s  %s\n", "page", "p50 ms", "p95 ms", "max ms", "GET")
	for _, p := range r.Pages {
		fmt.Fprintf(w, "%-38s %9.2f %9.2f %9.2f  %s\n", p.Name, p.P50, p.P95, p.Max, p.Path)
	}
	if len(r.Pages) > 0 {
		fmt.Fprintf(w, "%d requests a page, one at a time; %d CPUs, %s\n", r.Pages[0].Requests, r.CPUs, r.GoVersion)
	}
}
