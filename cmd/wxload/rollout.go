package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxfleet/wxfleet/rollout"
	"github.com/wxfleet/wxfleet/sandbox"
)

// `wxload rollout` measures a fleet rollout end to end: a WeChat sandbox in
// this process, the platform in a child process (so its peak RSS is its
// own), N mini programs created and authorized through the sandbox's bulk
// path, a template, and one rollout to all of them with auto release. It
// reports the wall time, the WeChat calls the rollout made and their rate
// against the configured --rate, the platform's peak RSS, and checks through
// the sandbox's counters that every app was committed, submitted and released
// exactly once. Everything listens on 127.0.0.1; a PostgreSQL DSN must be on
// loopback too.

// RolloutSettings are the checked flags of `wxload rollout`.
type RolloutSettings struct {
	Apps       int
	Database   string // "" → SQLite in the run's directory
	Rate       float64
	Workers    int
	Batch      int
	AuditDelay time.Duration
	AuditPoll  time.Duration
	Timeout    time.Duration
	Data       string
}

// RolloutReport is what `wxload rollout` prints.
type RolloutReport struct {
	Apps             int            `json:"apps"`
	Database         string         `json:"database"`
	Batch            int            `json:"batch_size"`
	Workers          int            `json:"rollout_workers"`
	Rate             float64        `json:"configured_rate"`
	AuthorizeSeconds float64        `json:"authorize_s"`
	WallSeconds      float64        `json:"rollout_s"`
	Calls            map[string]int `json:"calls"`
	TotalCalls       int            `json:"total_calls"`
	AvgRate          float64        `json:"avg_calls_per_s"`
	SteadyRate       float64        `json:"steady_calls_per_s"`
	Fraction         float64        `json:"steady_fraction_of_rate,omitempty"`
	PeakRSSMB        float64        `json:"platform_peak_rss_mb"`
	Released         int            `json:"released"`
	NotOnce          int            `json:"apps_not_exactly_once"`
	CPUs             int            `json:"cpus"`
	GoVersion        string         `json:"go_version"`
}

func runRollout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rollout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s RolloutSettings
	fs.IntVar(&s.Apps, "apps", 1000, "mini programs to create, authorize and roll out to (1 to 100000)")
	fs.StringVar(&s.Database, "database", "", "postgres://... on loopback (a fresh schema is made and dropped); default SQLite in a temporary directory")
	fs.Float64Var(&s.Rate, "rate", 20, "the platform's --rollout-rate: WeChat calls per second for rollouts (0: no bound)")
	fs.IntVar(&s.Workers, "workers", 0, "the platform's --rollout-workers (0: its default, 10 or half -rate when that is more)")
	fs.IntVar(&s.Batch, "batch", 1000, "the rollout's batch_size (cohort size)")
	fs.DurationVar(&s.AuditDelay, "audit-delay", time.Second, "how long the sandbox takes to decide an audit")
	fs.DurationVar(&s.AuditPoll, "audit-poll", 30*time.Second, "the platform's --audit-poll (the pushes decide first)")
	fs.DurationVar(&s.Timeout, "timeout", time.Hour, "give up after this long")
	fs.StringVar(&s.Data, "data", "", "directory for the databases (default: a temporary one, removed)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	// The platform process's output, the sandbox's log and the progress
	// lines share stderr.
	stderr = &lockedWriter{w: stderr}
	rep, err := rolloutBenchmark(ctx, s, stderr)
	if rep != nil {
		if *asJSON {
			writeJSON(stdout, rep)
		} else {
			printRollout(stdout, rep)
		}
	}
	if err == nil && rep.NotOnce > 0 {
		err = fmt.Errorf("%d apps were not committed, submitted and released exactly once", rep.NotOnce)
	}
	return err
}

func (s *RolloutSettings) check(ctx context.Context) error {
	switch {
	case s.Apps < 1 || s.Apps > 100_000:
		return fmt.Errorf("-apps %d: 1 to 100000", s.Apps)
	case s.Rate < 0 || s.Workers < 0 || s.Batch < 1 || s.Batch > 10_000:
		return errors.New("-rate ≥ 0, -workers ≥ 1, -batch 1 to 10000")
	case s.AuditDelay < 0 || s.AuditPoll < time.Second || s.Timeout <= 0:
		return errors.New("-audit-delay ≥ 0, -audit-poll ≥ 1s, -timeout > 0")
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

// rolloutBenchmark sets everything up, runs the rollout and measures it.
func rolloutBenchmark(ctx context.Context, s RolloutSettings, stderr io.Writer) (*RolloutReport, error) {
	dir := s.Data
	if dir == "" {
		d, err := os.MkdirTemp("", "wxload-rollout-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	dsn, kind := filepath.Join(dir, "wxfleet.db"), "sqlite"
	if s.Database != "" {
		d, drop, err := freshPostgresSchema(ctx, s.Database)
		if err != nil {
			return nil, err
		}
		defer drop()
		dsn, kind = d, "postgres"
	}
	f, err := startFleet(ctx, s, dir, dsn, stderr)
	if err != nil {
		return nil, err
	}
	defer f.close()
	workers := s.Workers
	if workers == 0 {
		workers = rollout.DefaultWorkers(s.Rate)
	}
	rep := &RolloutReport{Apps: s.Apps, Database: kind, Batch: s.Batch, Workers: workers, Rate: s.Rate,
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	fmt.Fprintf(stderr, "wxload rollout: authorizing %d mini programs through the sandbox…\n", s.Apps)
	start := time.Now()
	if err := f.authorize(ctx, s.Apps); err != nil {
		return nil, err
	}
	rep.AuthorizeSeconds = time.Since(start).Seconds()
	fmt.Fprintf(stderr, "wxload rollout: %d authorized in %.1fs; rolling out (batch %d, rate %g/s)…\n", s.Apps, rep.AuthorizeSeconds, s.Batch, s.Rate)
	samples, err := f.rollout(ctx, s, stderr)
	if err != nil {
		return nil, err
	}
	rep.fill(samples)
	if rep.NotOnce, err = f.checkOnce(ctx, s.Apps); err != nil {
		return nil, err
	}
	rep.PeakRSSMB = float64(f.platform.Stop()) / (1 << 20)
	return rep, nil
}

// fill computes the rates from the samples: the average over the whole
// rollout, and the steady rate between the 10th and the 90th percentile of
// the calls (the ramp-up and the last stragglers left out).
func (r *RolloutReport) fill(samples []rolloutSample) {
	last := samples[len(samples)-1]
	r.WallSeconds, r.Calls, r.Released = last.at.Seconds(), last.calls, last.released
	for p, n := range last.calls {
		if strings.HasPrefix(p, "/wxa/") {
			r.TotalCalls += n
		}
	}
	r.AvgRate = float64(r.TotalCalls) / r.WallSeconds
	at := func(share float64) rolloutSample {
		for _, s := range samples {
			if float64(s.total) >= share*float64(r.TotalCalls) {
				return s
			}
		}
		return last
	}
	lo, hi := at(0.1), at(0.9)
	if d := (hi.at - lo.at).Seconds(); d > 0 {
		r.SteadyRate = float64(hi.total-lo.total) / d
	}
	if r.Rate > 0 {
		r.Fraction = r.SteadyRate / r.Rate
	}
}

func printRollout(w io.Writer, r *RolloutReport) {
	fmt.Fprintf(w, "rollout     %d mini programs on %s, batch %d, %d rollout workers, configured rate %g calls/s\n", r.Apps, r.Database, r.Batch, r.Workers, r.Rate)
	fmt.Fprintf(w, "authorize   %.1fs (bulk authorization through the sandbox's pushes, before the clock)\n", r.AuthorizeSeconds)
	fmt.Fprintf(w, "wall time   %.1fs from create to completed; %d released\n", r.WallSeconds, r.Released)
	var paths []string
	for p := range r.Calls {
		if strings.HasPrefix(p, "/wxa/") {
			paths = append(paths, fmt.Sprintf("%s %d", strings.TrimPrefix(p, "/wxa/"), r.Calls[p]))
		}
	}
	slices.Sort(paths)
	fmt.Fprintf(w, "calls       %d to WeChat's /wxa/ APIs: %s\n", r.TotalCalls, strings.Join(paths, ", "))
	frac := ""
	if r.Rate > 0 {
		frac = fmt.Sprintf(" = %.0f%% of the configured %g", r.Fraction*100, r.Rate)
	}
	fmt.Fprintf(w, "call rate   %.1f/s on average, %.1f/s steady (10th to 90th percentile of calls)%s\n", r.AvgRate, r.SteadyRate, frac)
	fmt.Fprintf(w, "peak RSS    %.0f MB (the platform process)\n", r.PeakRSSMB)
	once := "every app committed, submitted and released exactly once"
	if r.NotOnce > 0 {
		once = fmt.Sprintf("%d apps NOT exactly once", r.NotOnce)
	}
	fmt.Fprintf(w, "check       %s (the sandbox's counters)\n", once)
	fmt.Fprintf(w, "machine     %d CPUs, %s; the sandbox (WeChat) runs on the same CPUs, in wxload's process\n", r.CPUs, r.GoVersion)
}

// freshPostgresSchema makes a schema of its own for the run on dsn's
// database and returns dsn pointing at it, and a func that drops it.
func freshPostgresSchema(ctx context.Context, dsn string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", nil, fmt.Errorf("-database: %w", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "wxload_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, err
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	}
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}

// fleet is the sandbox in this process and the platform in its child.
type fleet struct {
	sb       *sandbox.Sandbox
	sbURL    string
	hs       *http.Server
	stopSB   context.CancelFunc
	platform *platformProcess
	admin    string
	client   *http.Client
	sbDone   chan struct{}
	logger   *slog.Logger
}

// startFleet binds the sandbox, starts the platform pointed at it, then
// serves the sandbox pushing to the platform.
func startFleet(ctx context.Context, s RolloutSettings, dir, dsn string, stderr io.Writer) (*fleet, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fleet{sbURL: "http://" + ln.Addr().String(), admin: randomHex(16), client: &http.Client{Timeout: 10 * time.Minute},
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("side", "sandbox")}
	creds, secret := defaultCredentials(), randomHex(16)
	master := make([]byte, 32)
	rand.Read(master)
	f.platform, err = startPlatformProcess(ctx, childConfig{Database: dsn, WeChatURL: f.sbURL, AdminToken: f.admin, MasterKey: master,
		Creds: creds, Secret: secret, Rate: s.Rate, Workers: s.Workers, AuditPoll: s.AuditPoll}, stderr)
	if err != nil {
		ln.Close()
		return nil, err
	}
	f.sb, err = sandbox.New(sandbox.Config{
		DataDir: filepath.Join(dir, "sandbox"), PublicURL: f.sbURL, PlatformURL: f.platform.URL,
		Components:     []sandbox.Component{{AppID: creds.ComponentAppID, Secret: secret, Token: creds.Token, AESKey: creds.AESKey, Name: "wxload"}},
		TicketInterval: 10 * time.Minute, Logger: f.logger,
	})
	if err != nil {
		ln.Close()
		f.platform.Stop()
		return nil, err
	}
	f.hs = &http.Server{Handler: f.sb.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go f.hs.Serve(ln)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.stopSB, f.sbDone = cancel, make(chan struct{})
	go func() { defer close(f.sbDone); f.sb.Run(runCtx) }()
	return f, nil
}

func (f *fleet) close() {
	f.platform.Stop()
	f.stopSB()
	<-f.sbDone
	f.hs.Close()
	f.sb.Close()
}

// call sends a JSON request to the sandbox ("/sandbox/…") or the platform's
// API and decodes the answer into out; it fails on any status but want.
func (f *fleet) call(ctx context.Context, method, path string, body, out any, want int) error {
	base, auth := f.platform.URL, "Bearer "+f.admin
	if strings.HasPrefix(path, "/sandbox/") {
		base, auth = f.sbURL, ""
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// poll calls cond every interval until it returns true or an error, or ctx ends.
func poll(ctx context.Context, interval time.Duration, what string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}
