// Command wxload measures how many user messages per second a wxfleet platform
// takes at its message URL (消息与事件接收URL, POST /wechat/apps/{appid}),
// compared with a "floor" server that does only what every push needs.
//
//	wxload floor    the floor alone: verify, decrypt, parse, answer "success"
//	wxload run      load against a server already running on loopback
//	wxload compare  the floor and a real platform (SQLite) in one process, side by side
//	wxload tokens   N authorized sandbox mini programs whose tokens come due at once,
//	                refreshed by one or more `wxfleet serve` processes
//	wxload rollout  a fleet rollout to N sandbox mini programs: wall time, call rate, peak RSS
//	wxload tenants  the tenant and authorizer list pages at N tenants / M authorizers: p50/p95 per page kind
//
// Every message is distinct (its own MsgId), signed and encrypted as WeChat
// does it. Load goes to loopback addresses only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

const usage = `wxload — 消息推送压测 / load for wxfleet's message URL (loopback only)

Usage:
  wxload floor   [--addr 127.0.0.1:0] [--component-appid A --token T --aes-key K]
  wxload run     --target URL [--appid APPID] [--component-appid A --token T --aes-key K]
                 [-c 32] [-d 10s] [-n N] [-warmup 1s] [--admin-token TOKEN] [-json]
  wxload compare [-c 32] [-d 10s] [-n N] [-rounds 3] [-warmup 1s] [--data DIR]
                 [-sync-full] [-apps N] [-cpuprofile FILE] [-floor-cpuprofile FILE] [-json]
  wxload tokens  --wxfleet BIN [-n 1000] [-instances 1] [--database postgres://...] [-rate 100]
                 [-fault-share 0.1] [--sandbox-bin BIN] [-timeout 40m] [--data DIR] [-keep] [-json]
  wxload rollout [-apps 1000] [-database postgres://...] [-rate 20] [-workers 10] [-batch 1000]
                 [-audit-delay 1s] [-audit-poll 30s] [-timeout 1h] [-data DIR] [-json]
  wxload tenants [-tenants 20000] [-authorizers 100000] [-n 50] [-warmup 3] [-database postgres://...]
                 [-data DIR] [--target URL --admin-token TOKEN] [-json]

Run "wxload <command> -h" for a command's flags. Without credential flags all
commands use the same test platform, so "wxload floor" and "wxload run" work
together as they are.
`

var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wxload:", err)
		os.Exit(1)
	}
}

// run dispatches a command line; main and the tests share it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "floor":
		return runFloor(ctx, rest, stdout, stderr)
	case "run":
		return runRun(ctx, rest, stdout, stderr)
	case "compare":
		return runCompare(ctx, rest, stdout, stderr)
	case "tokens":
		return runTokens(ctx, rest, stdout, stderr)
	case "rollout":
		return runRollout(ctx, rest, stdout, stderr)
	case "tenants":
		return runTenants(ctx, rest, stdout, stderr)
	case "rollout-platform": // the platform process of "rollout", not for people
		return runRolloutPlatform(ctx, os.Stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

// credFlags are the test platform's secrets.
type credFlags struct{ comp, token, key *string }

func addCredFlags(fs *flag.FlagSet) credFlags {
	d := defaultCredentials()
	return credFlags{
		comp:  fs.String("component-appid", d.ComponentAppID, "component appid of the platform (the receiveid)"),
		token: fs.String("token", d.Token, "the platform's message token (消息校验Token)"),
		key:   fs.String("aes-key", d.AESKey, "the platform's 43-character EncodingAESKey (消息加解密Key)"),
	}
}

func (c credFlags) get() Credentials {
	return Credentials{ComponentAppID: *c.comp, Token: *c.token, AESKey: *c.key}
}

// loadFlags bound and shape a run.
type loadFlags struct {
	conns                     *int
	duration, warmup, timeout *time.Duration
	requests, maxPool         *int
	json                      *bool
}

func addLoadFlags(fs *flag.FlagSet) loadFlags {
	return loadFlags{
		conns:    fs.Int("c", 32, "connections (HTTP/1.1 keep-alive), one worker each"),
		duration: fs.Duration("d", 10*time.Second, "stop a timed run after this long (0: only -n; at most "+maxRun.String()+")"),
		requests: fs.Int("n", 0, "stop a timed run after this many requests (0: only -d)"),
		warmup:   fs.Duration("warmup", time.Second, "warm up this long before each timed run (not measured)"),
		timeout:  fs.Duration("timeout", 10*time.Second, "per-request timeout"),
		maxPool:  fs.Int("max-pool", 2_000_000, "at most this many pre-generated messages per timed run (~1 KiB each)"),
		json:     fs.Bool("json", false, "print the result as JSON"),
	}
}

// LoadSettings are the checked load flags.
type LoadSettings struct {
	Conns    int
	Requests int
	Duration time.Duration
	Warmup   time.Duration
	Timeout  time.Duration
	MaxPool  int
	// PoolSlack is added to the expected number of requests when sizing a
	// pool; 0 means 2048. Tests set it low to make a pool run dry.
	PoolSlack int
}

func (l loadFlags) get() (LoadSettings, error) {
	s := LoadSettings{Conns: *l.conns, Requests: *l.requests, Duration: *l.duration, Warmup: *l.warmup, Timeout: *l.timeout, MaxPool: *l.maxPool}
	switch {
	case s.Conns < 1 || s.Conns > 4096:
		return s, fmt.Errorf("-c %d: give 1 to 4096 connections", s.Conns)
	case s.Requests < 0 || s.Duration < 0 || s.Warmup < 0:
		return s, errors.New("-n, -d and -warmup cannot be negative")
	case s.Requests == 0 && s.Duration == 0:
		return s, errors.New("give -n or -d: a run must stop by itself")
	case s.Duration > maxRun:
		return s, fmt.Errorf("-d %v: at most %v, because messages are stamped when generated and the platform refuses timestamps over 5 minutes old", s.Duration, maxRun)
	case s.Requests > s.MaxPool:
		return s, fmt.Errorf("-n %d is over -max-pool %d (every message is pre-generated, ~1 KiB each)", s.Requests, s.MaxPool)
	case s.Timeout <= 0:
		return s, errors.New("-timeout must be positive")
	}
	return s, nil
}

func runFloor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	cf := addCredFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	creds := cf.get()
	s, err := StartFloor(*addr, creds, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stdout, "wxload floor: listening on %s\n", s.URL())
	fmt.Fprintf(stdout, "  message URL: %s/wechat/apps/$APPID$\n", s.URL())
	if creds == defaultCredentials() {
		fmt.Fprintf(stdout, "  test platform: component appid %s, token %s, aes key %s (wxload run's defaults)\n", creds.ComponentAppID, creds.Token, creds.AESKey)
	} else {
		fmt.Fprintf(stdout, "  platform: component appid %s, with the token and aes key given\n", creds.ComponentAppID)
	}
	fmt.Fprintf(stdout, "  per push: check timestamp (±%v) and size (1 MiB), verify msg_signature, decrypt, parse XML, answer \"success\"; nothing stored\n", 5*time.Minute)
	fmt.Fprintf(stdout, "  try: wxload run --target %s\n", s.URL())
	<-ctx.Done()
	fmt.Fprintf(stdout, "wxload floor: %d pushes accepted, %d refused\n", s.Floor.accepted.Load(), s.Floor.refused.Load())
	return nil
}

// RunReport is what `wxload run` prints.
type RunReport struct {
	Target     string       `json:"target"`
	Settings   ReportConfig `json:"settings"`
	Load       *Measurement `json:"load"`
	Stored     *int64       `json:"stored,omitempty"` // new events at the platform, with --admin-token
	Acked      int64        `json:"acked"`            // warm-up and timed requests answered "success"
	AllStored  *bool        `json:"all_stored,omitempty"`
	Generation string       `json:"generation"`
	Note       string       `json:"note"`
}

// ReportConfig records how a report was made.
type ReportConfig struct {
	Conns         int     `json:"connections"`
	Seconds       float64 `json:"duration_s"`
	Requests      int     `json:"requests_limit,omitempty"`
	WarmupSeconds float64 `json:"warmup_s"`
	CPUs          int     `json:"cpus"`
	GOMAXPROCS    int     `json:"gomaxprocs"`
	GoVersion     string  `json:"go_version"`
}

func reportConfig(s LoadSettings) ReportConfig {
	return ReportConfig{Conns: s.Conns, Seconds: s.Duration.Seconds(), Requests: s.Requests, WarmupSeconds: s.Warmup.Seconds(),
		CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
}

const generationNote = "request bodies are pre-generated (signed and encrypted) before each timed run, so the generator's crypto is off the clock; warm-ups generate live"

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "base URL of the server, e.g. http://127.0.0.1:8080 (loopback only); /wechat/apps/APPID is appended")
	appID := fs.String("appid", defaultAppID, "the authorizer (mini program) appid the messages are for")
	admin := fs.String("admin-token", "", "the platform's admin token: if set, check via /api/v1/events that every acknowledged push was stored")
	cf := addCredFlags(fs)
	lf := addLoadFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		fmt.Fprintln(stderr, "run: --target is required")
		fs.Usage()
		return errUsage
	}
	settings, err := lf.get()
	if err != nil {
		return err
	}
	creds := cf.get()
	t, err := ParseTarget(ctx, *target, *appID)
	if err != nil {
		return err
	}
	var api *apiClient
	var before int64
	if *admin != "" {
		if api, err = newAPIClient(ctx, *target, *admin); err != nil {
			return err
		}
		if before, err = api.EventTotal(ctx, creds.ComponentAppID, *appID); err != nil {
			return err
		}
	}
	gen, err := NewGenerator(creds, *appID, time.Now)
	if err != nil {
		return err
	}
	cl := NewClient(t, settings.Conns, settings.Timeout)
	defer cl.Close()
	fmt.Fprintf(stderr, "wxload run: %s, %d connections, %s\n", t.URL, settings.Conns, bounds(settings))
	m := Measure(ctx, "run", cl, gen, settings, 0, nil)
	rep := &RunReport{Target: t.URL.String(), Settings: reportConfig(settings), Load: m, Acked: m.acked(),
		Generation: generationNote, Note: cpuNote()}
	if api != nil {
		after, err := api.EventTotal(ctx, creds.ComponentAppID, *appID)
		if err != nil {
			return err
		}
		stored := after - before
		all := stored == rep.Acked
		rep.Stored, rep.AllStored = &stored, &all
	}
	if *lf.json {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		printRun(stdout, rep)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if rep.AllStored != nil && !*rep.AllStored {
		return fmt.Errorf("the platform stored %d new events for %d acknowledged pushes", *rep.Stored, rep.Acked)
	}
	return allSuccess(m.Result)
}

// allSuccess fails a run in which some request did not get "success", so
// that scripts notice; the report has been printed by then.
func allSuccess(r *Result) error {
	if r.OK != r.Requests {
		return fmt.Errorf("%s: %d of %d requests did not get \"success\"", r.Label, r.Requests-r.OK, r.Requests)
	}
	return nil
}

func bounds(s LoadSettings) string {
	var parts []string
	if s.Requests > 0 {
		parts = append(parts, fmt.Sprintf("%d requests", s.Requests))
	}
	if s.Duration > 0 {
		parts = append(parts, s.Duration.String())
	}
	b := strings.Join(parts, " or ")
	if s.Warmup > 0 {
		b += fmt.Sprintf(" after a %v warm-up", s.Warmup)
	}
	return b
}

func cpuNote() string {
	return fmt.Sprintf("the load generator runs on this machine's %d CPUs (GOMAXPROCS=%d) alongside the server under test, so absolute req/s understate a dedicated server", runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

func printRun(w io.Writer, r *RunReport) {
	res := r.Load.Result
	fmt.Fprintf(w, "target      %s\n", r.Target)
	fmt.Fprintf(w, "requests    %d in %.2fs (stopped by %s), %d connections (%d opened during the timed run)\n",
		res.Requests, res.Seconds, res.StoppedBy, res.Conns, res.Dials)
	fmt.Fprintf(w, "ok          %d (200 \"success\")\n", res.OK)
	printFailures(w, "", res)
	fmt.Fprintf(w, "throughput  %.0f req/s\n", res.RPS)
	fmt.Fprintf(w, "latency     p50 %s  p90 %s  p99 %s  max %s\n", fmtMs(res.P50ms), fmtMs(res.P90ms), fmtMs(res.P99ms), fmtMs(res.MaxMs))
	if res.SelfCPUs > 0 || res.OtherCPUs > 0 {
		fmt.Fprintf(w, "CPUs busy   this process (the generator) %.2f, other processes (the server, and anything else) %.2f\n", res.SelfCPUs, res.OtherCPUs)
	}
	if r.Load.Warmup != nil {
		fmt.Fprintf(w, "warm-up     %d requests, %d ok, %.0f req/s (live generation, not measured)\n", r.Load.Warmup.Requests, r.Load.Warmup.OK, r.Load.Warmup.RPS)
	}
	if r.Stored != nil {
		mark := "every acknowledged push stored"
		if !*r.AllStored {
			mark = "MISMATCH"
		}
		fmt.Fprintf(w, "stored      %d new events for %d acknowledged pushes: %s\n", *r.Stored, r.Acked, mark)
	}
	p := r.Load.Pool
	fmt.Fprintf(w, "messages    %d pre-generated in %.2fs off the clock (avg %.0f B plaintext XML, %.0f B body), %d used\n",
		p.Messages, p.GenerateSeconds, p.AvgPlainBytes, p.AvgBodyBytes, p.Used)
	fmt.Fprintf(w, "note        %s\n", r.Note)
}

func printFailures(w io.Writer, prefix string, r *Result) {
	if len(r.NonOK) > 0 {
		fmt.Fprintf(w, "%snon-ok      %v  e.g. %q\n", prefix, r.NonOK, r.BodySample)
	}
	if r.Errors > 0 {
		fmt.Fprintf(w, "%serrors      %d  e.g. %q\n", prefix, r.Errors, r.ErrorSample)
	}
}

func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	default:
		return fmt.Sprintf("%.2fms", v)
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
