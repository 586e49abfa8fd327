package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// `wxload tokens`: N authorized sandbox mini programs whose tokens come due
// together, refreshed by one or more `wxfleet serve` processes.

// tokenSettings are the checked flags of `wxload tokens`.
type tokenSettings struct {
	n, instances     int
	rate, faultShare float64
	wxfleet, sandbox string
	database, dir    string
	timeout          time.Duration
	keep, jsonOut    bool
}

// TokensReport is what `wxload tokens` prints.
type TokensReport struct {
	Authorizers     int     `json:"authorizers"`
	Instances       int     `json:"instances"`
	Database        string  `json:"database"`
	Rate            float64 `json:"rate_per_s"`
	AuthorizeMethod string  `json:"authorize_method"`
	AuthorizeSecs   float64 `json:"authorize_s"`
	// The run: from the moment every token is due.
	RefreshedSecs   float64        `json:"all_refreshed_s"` // until every (non-faulted) token is fresh
	Refreshes       float64        `json:"refreshes"`       // successful api_authorizer_token calls
	RefreshRate     float64        `json:"refreshes_per_s"`
	PeakCallsPerSec float64        `json:"peak_calls_per_s"` // all instances' api_authorizer_token calls, busiest 5 s
	WeChatPeak1s    int            `json:"wechat_peak_1s"`   // most tokens the sandbox issued in one second
	WeChatPeak5s    float64        `json:"wechat_peak_5s"`   // per second, over the busiest 5 s
	Duplicates      int            `json:"duplicates"`       // 61023 answers: a refresh token used twice
	DuplicatesFrom  string         `json:"duplicates_from"`
	Reauthorization int            `json:"reauthorization_needed"`
	Samples         int64          `json:"token_samples"`
	ServedExpired   int64          `json:"served_expired"` // sampled tokens WeChat rejected
	ExpiredSeen     int            `json:"max_expired_seen"`
	PerInstance     []instanceWork `json:"per_instance"`
	SandboxRSSMiB   float64        `json:"sandbox_peak_rss_mib"`
	DBBytesBefore   int64          `json:"db_bytes_before"`
	DBBytesAfter    int64          `json:"db_bytes_after"`
	DBBytesPerHour  float64        `json:"db_bytes_per_hour_steady"` // growth per refresh × refreshes an hour at N tokens
	Fault           *faultResult   `json:"fault,omitempty"`
	Notes           []string       `json:"notes"`
}

type instanceWork struct {
	Calls      float64 `json:"calls"`
	Refreshes  float64 `json:"refreshes"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

type faultResult struct {
	Apps          int     `json:"apps"`
	OthersFresh   bool    `json:"others_fresh"`
	Paused        bool    `json:"platform_paused"`
	ResumedSecs   float64 `json:"resumed_s"` // after the fault was lifted, until they were fresh too
	ResumedWithin bool    `json:"resumed_within_60s"`
}

func runTokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s tokenSettings
	fs.IntVar(&s.n, "n", 1000, "authorized mini programs")
	fs.IntVar(&s.instances, "instances", 1, "`wxfleet serve` processes (more than 1 needs --database postgres://)")
	fs.Float64Var(&s.rate, "rate", 100, "--refresh-rate of the platform: api_authorizer_token calls per second")
	fs.Float64Var(&s.faultShare, "fault-share", 0, "inject 45009 on this share of the apps (sandbox faults with \"appids\"), then lift it")
	fs.StringVar(&s.wxfleet, "wxfleet", "", "the wxfleet binary to run `serve` with (go build -o /tmp/wxfleet ./cmd/wxfleet)")
	fs.StringVar(&s.sandbox, "sandbox-bin", "", "the wxfleet binary to run `sandbox` with (default --wxfleet)")
	fs.StringVar(&s.database, "database", "", "postgres://... on loopback (a fresh schema is made and dropped); default SQLite")
	fs.StringVar(&s.dir, "data", "", "working directory (logs, SQLite); default a temporary one, removed")
	fs.DurationVar(&s.timeout, "timeout", 40*time.Minute, "give up after this long")
	fs.BoolVar(&s.keep, "keep", false, "keep the working directory and the PostgreSQL schema")
	fs.BoolVar(&s.jsonOut, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case s.wxfleet == "":
		return errors.New("tokens: give --wxfleet (go build -o /tmp/wxfleet ./cmd/wxfleet)")
	case s.n < 1 || s.n > 200_000:
		return errors.New("tokens: -n between 1 and 200000")
	case s.instances < 1 || s.instances > 8:
		return errors.New("tokens: -instances between 1 and 8")
	case s.instances > 1 && s.database == "":
		return errors.New("tokens: several instances need --database postgres://... (SQLite serves one instance)")
	case s.rate <= 0 || s.faultShare < 0 || s.faultShare >= 1:
		return errors.New("tokens: -rate above 0, -fault-share in [0, 1)")
	}
	if s.sandbox == "" {
		s.sandbox = s.wxfleet
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rep, err := tokensRun(ctx, s, stderr)
	if rep != nil {
		if s.jsonOut {
			writeJSON(stdout, rep)
		} else {
			printTokens(stdout, rep)
		}
	}
	return err
}

// tokenBench is one run's processes and clients.
type tokenBench struct {
	s         tokenSettings
	dir       string
	db        *database
	sandbox   *proc
	platforms []*proc
	api       *jsonClient // platform API, admin token
	ctl       *jsonClient // sandbox control API
	comp      string
	log       io.Writer
	authStart time.Time // tokens were issued after this
}

func tokensRun(ctx context.Context, s tokenSettings, log io.Writer) (*TokensReport, error) {
	b := &tokenBench{s: s, log: log, comp: benchPlatform["WXFLEET_COMPONENT_APPID"]}
	if err := b.start(ctx); err != nil {
		b.stop(ctx)
		return nil, err
	}
	defer b.stop(ctx)
	rep := &TokensReport{Instances: s.instances, Rate: s.rate, Database: "sqlite"}
	if s.database != "" {
		rep.Database = "postgres"
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("sandbox and %d platform process(es) share this machine's CPUs with other work", s.instances))
	apps, err := b.authorize(ctx, rep)
	if err != nil {
		return rep, err
	}
	rep.Authorizers = len(apps)
	err = b.measure(ctx, rep, apps)
	for i, p := range b.platforms {
		rep.PerInstance[i].PeakRSSMiB = p.peakRSS()
	}
	rep.SandboxRSSMiB = b.sandbox.peakRSS()
	return rep, err
}

// start runs the sandbox and the platforms and waits for a ticket.
func (b *tokenBench) start(ctx context.Context) error {
	dir := b.s.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "wxload-tokens-")
		if err != nil {
			return err
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b.dir = dir
	db, err := openDatabase(ctx, b.s.database, dir)
	if err != nil {
		return err
	}
	b.db = db
	sbAddr, err := freeAddr()
	if err != nil {
		return err
	}
	addrs := make([]string, b.s.instances)
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return err
		}
	}
	env := map[string]string{"WXFLEET_LOG_LEVEL": "warn"}
	for k, v := range benchPlatform {
		env[k] = v
	}
	sb, err := startProc("sandbox", dir, b.s.sandbox, env, "sandbox", "--addr", sbAddr, "--data", filepath.Join(dir, "sandbox"),
		"--platform-url", "http://"+addrs[0], "--auth-domain", "*")
	if err != nil {
		return err
	}
	b.sandbox, sb.url = sb, "http://"+sbAddr
	if err := waitHTTP(ctx, sb.url+"/sandbox/api/clock", 30*time.Second); err != nil {
		return err
	}
	admin := randomHex(16)
	env["WXFLEET_ADMIN_TOKEN"], env["WXFLEET_MASTER_KEY"] = admin, randomKey()
	for i, a := range addrs {
		p, err := startProc(fmt.Sprintf("platform%d", i+1), dir, b.s.wxfleet, env, "serve", "--addr", a,
			"--data", filepath.Join(dir, fmt.Sprintf("p%d", i+1)), "--database", b.db.dsn, "--wechat-url", sb.url,
			"--refresh-rate", strconv.FormatFloat(b.s.rate, 'f', -1, 64))
		if err != nil {
			return err
		}
		p.url = "http://" + a
		b.platforms = append(b.platforms, p)
		// One at a time: each runs the migrations.
		if err := waitHTTP(ctx, p.url+"/readyz", time.Minute); err != nil {
			return fmt.Errorf("%w (see %s)", err, p.log.Name())
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	b.api, b.ctl = &jsonClient{http: hc, token: admin}, &jsonClient{http: hc}
	fmt.Fprintf(b.log, "wxload tokens: sandbox %s, platform %v, database %s, logs in %s\n", sb.url, addrs, b.db.dsnShown(), dir)
	deadline := time.Now().Add(time.Minute)
	for {
		var out struct {
			Items []struct {
				TicketValid bool `json:"ticket_valid"`
			} `json:"items"`
		}
		if _, err := b.api.do(ctx, http.MethodGet, b.platforms[0].url+"/api/v1/platforms", nil, &out); err == nil && len(out.Items) > 0 && out.Items[0].TicketValid {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the platform got no component_verify_ticket from the sandbox within a minute")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (d *database) dsnShown() string {
	if d.schema != "" {
		return "postgres schema " + d.schema
	}
	return d.sqlite
}

func (b *tokenBench) stop(ctx context.Context) {
	for _, p := range b.platforms {
		p.stop()
	}
	b.sandbox.stop()
	if b.db != nil {
		b.db.close(context.WithoutCancel(ctx), b.s.keep)
	}
	if b.s.dir == "" && !b.s.keep && b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// authorize has the sandbox authorize N mini programs through the real
// pushes and code exchange (POST /sandbox/api/apps/bulk), or, on a sandbox
// without it, its seeded mini programs one by one through the control API.
// It returns the authorized appids once the platform has them all.
func (b *tokenBench) authorize(ctx context.Context, rep *TokensReport) ([]string, error) {
	start := time.Now()
	b.authStart = start
	want := b.s.n
	// The sandbox answers once every push is out: minutes at 100k.
	bulk := &jsonClient{http: &http.Client{}}
	code, err := bulk.do(ctx, http.MethodPost, b.sandbox.url+"/sandbox/api/apps/bulk", map[string]any{"count": want, "authorize": true}, nil)
	switch {
	case err != nil:
		return nil, err
	case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
		rep.AuthorizeMethod = "control API, seeded mini programs (this sandbox has no POST /sandbox/api/apps/bulk)"
		rep.Notes = append(rep.Notes, fmt.Sprintf("THE SANDBOX LACKS POST /sandbox/api/apps/bulk: only its seeded mini programs were authorized, not -n %d", want))
		n, err := b.authorizeSeeded(ctx)
		if err != nil {
			return nil, err
		}
		want = n
	case code/100 != 2:
		return nil, fmt.Errorf("POST /sandbox/api/apps/bulk: status %d", code)
	default:
		rep.AuthorizeMethod = "POST /sandbox/api/apps/bulk {\"authorize\":true}: pushes and code exchange"
	}
	fmt.Fprintf(b.log, "wxload tokens: waiting for %d authorizers at the platform\n", want)
	for {
		apps, total, err := b.authorized(ctx)
		if err != nil {
			return nil, err
		}
		if total >= want && len(apps) >= want { // a list read while rows changed may miss some
			rep.AuthorizeSecs = time.Since(start).Seconds()
			return apps, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("only %d of %d authorizers after %v: %w", total, want, time.Since(start).Round(time.Second), ctx.Err())
		}
		time.Sleep(time.Second)
	}
}

func (b *tokenBench) authorizeSeeded(ctx context.Context) (int, error) {
	var list struct {
		Items []struct {
			AppID string `json:"appid"`
			Mini  bool   `json:"is_mini_program"`
		} `json:"items"`
	}
	if _, err := b.ctl.do(ctx, http.MethodGet, b.sandbox.url+"/sandbox/api/apps", nil, &list); err != nil {
		return 0, err
	}
	n := 0
	for _, a := range list.Items {
		if !a.Mini || n >= b.s.n {
			continue
		}
		var link struct {
			PCURL string `json:"pc_url"`
		}
		if _, err := b.api.do(ctx, http.MethodPost, b.platforms[0].url+"/api/v1/authorization-links", map[string]any{}, &link); err != nil {
			return n, err
		}
		if _, err := b.ctl.do(ctx, http.MethodPost, b.sandbox.url+"/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": a.AppID}, &struct{}{}); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// authorized lists the platform's authorized appids and their total.
func (b *tokenBench) authorized(ctx context.Context) ([]string, int, error) {
	var apps []string
	cursor, total := "", 0
	for {
		var page struct {
			Items []struct {
				AppID string `json:"appid"`
			} `json:"items"`
			Total *int   `json:"total"` // on the first page only (no cursor)
			Next  string `json:"next_cursor"`
		}
		u := b.platforms[0].url + "/api/v1/authorizers?status=authorized&limit=500&cursor=" + cursor
		if _, err := b.api.do(ctx, http.MethodGet, u, nil, &page); err != nil {
			return nil, 0, err
		}
		if page.Total != nil {
			total = *page.Total
		}
		for _, it := range page.Items {
			apps = append(apps, it.AppID)
		}
		if page.Next == "" || len(page.Items) == 0 {
			return apps, total, nil
		}
		cursor = page.Next
	}
}

// health is GET /api/v1/tokens/health for the benchmark's platform.
type health struct {
	Fresh, Due, Expired, Failing int
	Paused                       bool
}

func (b *tokenBench) health(ctx context.Context) (health, error) {
	var out struct {
		Platforms []struct {
			ComponentAppID string     `json:"component_appid"`
			Fresh          int        `json:"fresh"`
			Due            int        `json:"due"`
			Expired        int        `json:"expired"`
			Failing        int        `json:"failing"`
			PausedUntil    *time.Time `json:"paused_until"`
		} `json:"platforms"`
	}
	if _, err := b.api.do(ctx, http.MethodGet, b.platforms[0].url+"/api/v1/tokens/health", nil, &out); err != nil {
		return health{}, err
	}
	for _, p := range out.Platforms {
		if p.ComponentAppID == b.comp {
			return health{p.Fresh, p.Due, p.Expired, p.Failing, p.PausedUntil != nil}, nil
		}
	}
	return health{}, errors.New("the platform's token health does not list the benchmark's platform")
}

// sampler asks a random instance for a random authorizer's token and checks
// with the sandbox that WeChat accepts it, until stopped.
type sampler struct {
	samples, rejected atomic.Int64
	sample            string
}

func (b *tokenBench) sample(ctx context.Context, apps []string, sm *sampler, wg *sync.WaitGroup) {
	defer wg.Done()
	for ctx.Err() == nil {
		app := apps[rand.IntN(len(apps))]
		p := b.platforms[rand.IntN(len(b.platforms))]
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if _, err := b.api.do(ctx, http.MethodGet, p.url+"/api/v1/authorizers/"+app+"/access-token", nil, &tok); err == nil && tok.AccessToken != "" {
			// Any answer but 40001/40014/42001 means WeChat took the token.
			var res struct {
				Errcode int `json:"errcode"`
			}
			b.ctl.do(ctx, http.MethodPost, b.sandbox.url+"/cgi-bin/message/custom/send?access_token="+tok.AccessToken, map[string]any{}, &res)
			sm.samples.Add(1)
			if res.Errcode == 40001 || res.Errcode == 40014 || res.Errcode == 42001 {
				sm.rejected.Add(1)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
