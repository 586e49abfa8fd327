package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"text/tabwriter"
	"time"
)

// targetRatio is what the platform should reach relative to the floor.
const targetRatio = 0.75

// batchMetric is the platform's group-commit batch size histogram.
const batchMetric = "wxfleet_ingest_batch_size"

// CompareReport is what `wxload compare` prints.
type CompareReport struct {
	Settings      ReportConfig  `json:"settings"`
	Apps          int           `json:"apps"` // mini programs the messages are spread over
	Rounds        []*Round      `json:"rounds"`
	Median        Summary       `json:"median"`
	TargetRatio   float64       `json:"target_ratio"`
	MeetsTarget   bool          `json:"meets_target"`
	AllStored     bool          `json:"all_stored"` // every round: stored events == acknowledged pushes
	ProbeRPS      float64       `json:"probe_req_per_s,omitempty"`
	Generation    string        `json:"generation"`
	Note          string        `json:"note"`
	Database      string        `json:"database"`
	Profiles      []ProfileInfo `json:"profiles,omitempty"`
	SuppressedLog int64         `json:"suppressed_log_lines,omitempty"`
	ExpectedLog   int64         `json:"expected_wechat_warnings"` // the platform could not reach the stand-in WeChat
}

// Round is one floor run and one platform run.
type Round struct {
	N        int                  `json:"round"`
	Order    string               `json:"order"`
	Floor    *Measurement         `json:"floor"`
	Platform *PlatformMeasurement `json:"platform"`
	Ratio    float64              `json:"ratio"` // platform req/s ÷ floor req/s
}

// PlatformMeasurement adds what the platform stored to a measurement.
type PlatformMeasurement struct {
	*Measurement
	Acked     int64      `json:"acked"`  // warm-up and timed pushes answered "success"
	Stored    int64      `json:"stored"` // events the platform holds (fresh database each round)
	AllStored bool       `json:"all_stored"`
	Batch     *BatchInfo `json:"batch,omitempty"`
}

// BatchInfo is the platform's group commit during the timed run, from the
// wxfleet_ingest_batch_size histogram.
type BatchInfo struct {
	Commits       int64   `json:"commits"`
	Events        int64   `json:"events"`
	Mean          float64 `json:"mean"`
	P50           float64 `json:"p50_bucket"` // upper bound of the bucket holding the median
	P90           float64 `json:"p90_bucket"`
	CommitsPerSec float64 `json:"commits_per_s"`
}

// Summary holds the medians over the rounds.
type Summary struct {
	FloorRPS      float64 `json:"floor_req_per_s"`
	PlatformRPS   float64 `json:"platform_req_per_s"`
	Ratio         float64 `json:"ratio"` // of the two medians
	FloorP50ms    float64 `json:"floor_p50_ms"`
	FloorP99ms    float64 `json:"floor_p99_ms"`
	PlatformP50ms float64 `json:"platform_p50_ms"`
	PlatformP99ms float64 `json:"platform_p99_ms"`
	BatchMean     float64 `json:"platform_batch_mean,omitempty"`
}

// ProfileInfo names a CPU profile written during a timed run.
type ProfileInfo struct {
	Side  string `json:"side"`
	Round int    `json:"round"`
	File  string `json:"file"`
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rounds := fs.Int("rounds", 3, "rounds of (floor, platform); the order alternates; medians are reported")
	data := fs.String("data", "", "directory for the platform's SQLite databases (kept); default a temporary one (removed)")
	appID := fs.String("appid", defaultAppID, "the authorizer (mini program) appid the messages are for")
	apps := fs.Int("apps", 1, "spread the messages over this many mini programs (the first is -appid), each message to one at random: the events table's per-app index then costs more per push, as in a real fleet")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the last round's timed platform run to this file")
	floorProfile := fs.String("floor-cpuprofile", "", "write a CPU profile of the last round's timed floor run to this file")
	verbose := fs.Bool("v", false, "show the platform's info logs")
	syncFull := fs.Bool("sync-full", false, "run the platform's SQLite with ?synchronous=full (every acknowledged push fsync'ed)")
	lf := addLoadFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	settings, err := lf.get()
	if err != nil {
		return err
	}
	if *rounds < 1 {
		return errors.New("-rounds must be at least 1")
	}
	if *apps < 1 || *apps > 100_000 {
		return fmt.Errorf("-apps %d: give 1 to 100000 mini programs", *apps)
	}
	opts := compareOptions{Settings: settings, Rounds: *rounds, Data: *data, AppIDs: fleetAppIDs(*appID, *apps),
		CPUProfile: *cpuProfile, FloorProfile: *floorProfile, Verbose: *verbose, SyncFull: *syncFull}
	rep, err := Compare(ctx, opts, stderr)
	if err != nil {
		return err
	}
	if *lf.json {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		printCompare(stdout, rep)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !rep.AllStored {
		return errors.New("the platform did not store exactly the acknowledged pushes (see the stored column)")
	}
	for _, r := range rep.Rounds {
		if err := errors.Join(allSuccess(r.Floor.Result), allSuccess(r.Platform.Result)); err != nil {
			return fmt.Errorf("round %d: %w", r.N, err)
		}
	}
	return nil
}

type compareOptions struct {
	Settings                 LoadSettings
	Rounds                   int
	Data                     string
	AppIDs                   []string
	CPUProfile, FloorProfile string
	Verbose                  bool
	SyncFull                 bool
}

// Compare runs the floor and the platform in turn, in this process, and
// reports both. Progress goes to progress.
func Compare(ctx context.Context, o compareOptions, progress io.Writer) (*CompareReport, error) {
	s := o.Settings
	creds := defaultCredentials()
	level := slog.LevelWarn
	if o.Verbose {
		level = slog.LevelInfo
	}
	// The platform's goroutines log to progress while this one prints to it.
	progress = &lockedWriter{w: progress}
	logger, logs := newCappedLogger(progress, level, 20, unreachableWeChat)

	dir := o.Data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "wxload-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}

	rep := &CompareReport{Settings: reportConfig(s), Apps: len(o.AppIDs), TargetRatio: targetRatio, AllStored: true,
		Generation: generationNote, Note: cpuNote() + "; the floor, the platform and the generator share one process",
		Database: "SQLite under " + dir + ", a fresh database each round"}
	if o.SyncFull {
		rep.Database += ", synchronous=full (an fsync per acknowledged write)"
	}

	var floor *FloorServer
	var err error
	pprof.Do(ctx, pprof.Labels("side", "floor"), func(context.Context) {
		floor, err = StartFloor("127.0.0.1:0", creds, logger.With("server", "floor"))
	})
	if err != nil {
		return nil, err
	}
	defer floor.Close()
	floorTarget, err := parseTargetFor(ctx, floor.URL(), o.AppIDs)
	if err != nil {
		return nil, err
	}
	floorClient := NewClient(floorTarget, s.Conns, s.Timeout)
	defer floorClient.Close()
	gen, err := NewGeneratorApps(creds, o.AppIDs, time.Now)
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(progress, "wxload compare: %d round(s), %d connections, %s; floor at %s\n", o.Rounds, s.Conns, bounds(s), floor.URL())
	var rate float64
	if s.Requests == 0 {
		// Size the first pools from what the floor takes with live generation.
		probe := floorClient.Run(ctx, "probe", live{gen}, RunOptions{Duration: time.Second})
		rate, rep.ProbeRPS = probe.RPS, probe.RPS
		fmt.Fprintf(progress, "  probe: floor takes %.0f req/s with live generation\n", probe.RPS)
	}
	fmt.Fprintln(progress, "  the platform's WeChat is a closed port: its warnings about api_start_push_ticket are counted, not shown")

	for n := 1; n <= o.Rounds && ctx.Err() == nil; n++ {
		r := &Round{N: n, Order: "floor, platform"}
		last := n == o.Rounds
		runFloor := func() {
			profile := ""
			if last {
				profile = o.FloorProfile
			}
			stop := func() {}
			r.Floor = Measure(ctx, "floor", floorClient, gen, s, rate, func() {
				stop() // a repeated run restarts the profile
				stop = startProfile(profile, progress)
			})
			stop()
			if profile != "" {
				rep.Profiles = append(rep.Profiles, ProfileInfo{Side: "floor", Round: n, File: profile})
			}
			fmt.Fprintf(progress, "  round %d floor:    %s\n", n, oneLine(r.Floor))
		}
		runPlatform := func() error {
			profile := ""
			if last {
				profile = o.CPUProfile
			}
			pm, err := measurePlatform(ctx, filepath.Join(dir, fmt.Sprintf("round-%d", n)), creds, o.SyncFull, o.AppIDs, s, rate, gen, profile, logger, progress)
			if err != nil {
				return fmt.Errorf("round %d platform: %w", n, err)
			}
			r.Platform = pm
			if profile != "" {
				rep.Profiles = append(rep.Profiles, ProfileInfo{Side: "platform", Round: n, File: profile})
			}
			fmt.Fprintf(progress, "  round %d platform: %s; stored %d of %d acked\n", n, oneLine(pm.Measurement), pm.Stored, pm.Acked)
			return nil
		}
		// Alternate the order so that neither side always runs on a cooler machine.
		if n%2 == 0 {
			r.Order = "platform, floor"
			if err := runPlatform(); err != nil {
				return nil, err
			}
			runFloor()
		} else {
			runFloor()
			if err := runPlatform(); err != nil {
				return nil, err
			}
		}
		if r.Floor.Result.RPS > 0 {
			r.Ratio = r.Platform.Result.RPS / r.Floor.Result.RPS
		}
		rep.AllStored = rep.AllStored && r.Platform.AllStored
		rate = max(rate, r.Floor.Result.RPS, r.Platform.Result.RPS)
		rep.Rounds = append(rep.Rounds, r)
	}
	if len(rep.Rounds) == 0 {
		return nil, ctx.Err()
	}
	rep.Median = summarize(rep.Rounds)
	rep.MeetsTarget = rep.Median.Ratio >= targetRatio
	rep.SuppressedLog = logs.dropped.Load()
	rep.ExpectedLog = logs.expected.Load()
	return rep, nil
}

// measurePlatform boots a fresh platform in dir, measures it, checks that it
// stored every acknowledged push, and stops it.
func measurePlatform(ctx context.Context, dir string, creds Credentials, syncFull bool, appIDs []string, s LoadSettings, rate float64,
	gen *Generator, profile string, logger *slog.Logger, progress io.Writer) (*PlatformMeasurement, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		return nil, fmt.Errorf("%s is not empty: give compare a --data directory of its own", dir)
	}
	var p *Platform
	var err error
	// Labelled, so that a profile tells the platform's CPU from the generator's.
	pprof.Do(ctx, pprof.Labels("side", "platform"), func(ctx context.Context) {
		p, err = StartPlatform(ctx, dir, creds, syncFull, logger.With("server", "platform"))
	})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	target, err := parseTargetFor(ctx, p.URL, appIDs)
	if err != nil {
		return nil, err
	}
	api, err := newAPIClient(ctx, p.URL, p.AdminToken)
	if err != nil {
		return nil, err
	}
	cl := NewClient(target, s.Conns, s.Timeout)
	defer cl.Close()

	var before Histogram
	var haveBatch bool
	stop := func() {}
	m := Measure(ctx, "platform", cl, gen, s, rate, func() {
		stop() // a repeated run restarts the profile
		before, haveBatch, _ = api.Histogram(ctx, batchMetric)
		stop = startProfile(profile, progress)
	})
	stop()
	pm := &PlatformMeasurement{Measurement: m, Acked: m.acked()}
	if haveBatch {
		if after, ok, err := api.Histogram(ctx, batchMetric); err == nil && ok {
			d := after.Sub(before)
			if d.Count > 0 {
				pm.Batch = &BatchInfo{Commits: int64(d.Count), Events: int64(d.Sum), Mean: d.Sum / d.Count,
					P50: d.Quantile(0.5), P90: d.Quantile(0.9), CommitsPerSec: d.Count / m.Result.Seconds}
			}
		}
	}
	// Acknowledged means committed, so the count is final once the run ends.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, appID := range appIDs {
		n, err := api.EventTotal(qctx, creds.ComponentAppID, appID)
		if err != nil {
			return nil, err
		}
		pm.Stored += n
	}
	pm.AllStored = pm.Stored == pm.Acked
	return pm, nil
}

// fleetAppIDs returns n appids, the first being first: wx + 16 hex digits, as
// WeChat's are.
func fleetAppIDs(first string, n int) []string {
	ids := []string{first}
	for i := 1; i < n; i++ {
		ids = append(ids, fmt.Sprintf("wx10ad%012x", 0xf00000000+i))
	}
	return ids
}

// parseTargetFor returns the message URL for messages to appIDs.
func parseTargetFor(ctx context.Context, base string, appIDs []string) (*Target, error) {
	if len(appIDs) == 1 {
		return ParseTarget(ctx, base, appIDs[0])
	}
	return ParseTargetApps(ctx, base)
}

// startProfile starts the CPU profiler writing to file, if one is named, and
// returns the function that stops it.
func startProfile(file string, progress io.Writer) (stop func()) {
	if file == "" {
		return func() {}
	}
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintf(progress, "  cpu profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		fmt.Fprintf(progress, "  cpu profile: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func oneLine(m *Measurement) string {
	r := m.Result
	line := fmt.Sprintf("%6.0f req/s, %d ok of %d, p50 %s, p99 %s, CPUs busy: this process %.2f, others %.2f",
		r.RPS, r.OK, r.Requests, fmtMs(r.P50ms), fmtMs(r.P99ms), r.SelfCPUs, r.OtherCPUs)
	if r.StoppedBy == "pool exhausted" {
		line += " (ran out of pre-generated messages early; rate still valid)"
	}
	for _, d := range m.RanDry {
		line += fmt.Sprintf(" (repeated: a pool sized from the probe ran dry at %.0f req/s)", d.RPS)
	}
	return line
}

func summarize(rounds []*Round) Summary {
	med := func(f func(r *Round) float64) float64 {
		v := make([]float64, 0, len(rounds))
		for _, r := range rounds {
			v = append(v, f(r))
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	s := Summary{
		FloorRPS:      med(func(r *Round) float64 { return r.Floor.Result.RPS }),
		PlatformRPS:   med(func(r *Round) float64 { return r.Platform.Result.RPS }),
		FloorP50ms:    med(func(r *Round) float64 { return r.Floor.Result.P50ms }),
		FloorP99ms:    med(func(r *Round) float64 { return r.Floor.Result.P99ms }),
		PlatformP50ms: med(func(r *Round) float64 { return r.Platform.Result.P50ms }),
		PlatformP99ms: med(func(r *Round) float64 { return r.Platform.Result.P99ms }),
		BatchMean: med(func(r *Round) float64 {
			if r.Platform.Batch == nil {
				return 0
			}
			return r.Platform.Batch.Mean
		}),
	}
	if s.FloorRPS > 0 {
		s.Ratio = s.PlatformRPS / s.FloorRPS
	}
	return s
}

func printCompare(w io.Writer, rep *CompareReport) {
	s := rep.Settings
	fmt.Fprintf(w, "wxload compare: %d round(s), %d connections, timed runs of ", len(rep.Rounds), s.Conns)
	if s.Requests > 0 {
		fmt.Fprintf(w, "%d requests (at most %gs)", s.Requests, s.Seconds)
	} else {
		fmt.Fprintf(w, "%gs", s.Seconds)
	}
	fmt.Fprintf(w, ", each after a %gs warm-up\n\n", s.WarmupSeconds)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\torder\tfloor req/s\tp50\tp99\tplatform req/s\tp50\tp99\tratio\tstored/acked\tbatch mean\tp90\t")
	for _, r := range rep.Rounds {
		f, p := r.Floor.Result, r.Platform.Result
		check := "ok"
		if !r.Platform.AllStored {
			check = "MISMATCH"
		}
		bm, b90 := "-", "-"
		if b := r.Platform.Batch; b != nil {
			bm, b90 = fmt.Sprintf("%.1f", b.Mean), fmt.Sprintf("≤%g", b.P90)
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%s\t%s\t%.0f\t%s\t%s\t%.2f\t%d/%d %s\t%s\t%s\t\n", r.N, r.Order,
			f.RPS, fmtMs(f.P50ms), fmtMs(f.P99ms), p.RPS, fmtMs(p.P50ms), fmtMs(p.P99ms), r.Ratio,
			r.Platform.Stored, r.Platform.Acked, check, bm, b90)
	}
	m := rep.Median
	bm := "-"
	if m.BatchMean > 0 {
		bm = fmt.Sprintf("%.1f", m.BatchMean)
	}
	fmt.Fprintf(tw, "median\t\t%.0f\t%s\t%s\t%.0f\t%s\t%s\t%.2f\t\t%s\t\t\n", m.FloorRPS, fmtMs(m.FloorP50ms), fmtMs(m.FloorP99ms),
		m.PlatformRPS, fmtMs(m.PlatformP50ms), fmtMs(m.PlatformP99ms), m.Ratio, bm)
	tw.Flush()
	fmt.Fprintln(w)

	for _, r := range rep.Rounds {
		for _, x := range []struct {
			side string
			res  *Result
		}{{"floor", r.Floor.Result}, {"platform", r.Platform.Result}} {
			if len(x.res.NonOK) > 0 || x.res.Errors > 0 {
				fmt.Fprintf(w, "round %d %s:\n", r.N, x.side)
				printFailures(w, "  ", x.res)
			}
		}
	}
	fmt.Fprintf(w, "CPUs busy   (this process / other processes, averaged over each timed run; %d CPUs)\n", s.CPUs)
	noisy := 0.0
	for _, r := range rep.Rounds {
		f, p := r.Floor.Result, r.Platform.Result
		fmt.Fprintf(w, "  round %d   floor %.2f / %.2f   platform %.2f / %.2f\n", r.N, f.SelfCPUs, f.OtherCPUs, p.SelfCPUs, p.OtherCPUs)
		noisy = max(noisy, f.OtherCPUs, p.OtherCPUs)
	}
	if noisy > 0.25 {
		fmt.Fprintf(w, "WARNING     other processes kept up to %.2f CPUs busy during timed runs: the figures are noisy; rerun on a quiet machine\n", noisy)
	}
	verdict := "met"
	if !rep.MeetsTarget {
		verdict = "NOT met"
	}
	fmt.Fprintf(w, "target      platform ≥ %.2f × floor: %s (median ratio %.2f)\n", rep.TargetRatio, verdict, m.Ratio)
	stored := "yes, every round: stored events = acknowledged pushes (warm-ups included)"
	if !rep.AllStored {
		stored = "NO: see the stored/acked column"
	}
	fmt.Fprintf(w, "all stored  %s\n", stored)
	if len(rep.Rounds) > 0 {
		if b := rep.Rounds[len(rep.Rounds)-1].Platform.Batch; b != nil {
			fmt.Fprintf(w, "group commit last round: %d commits (%.0f/s) for %d events, mean batch %.1f, p50 ≤%g, p90 ≤%g\n",
				b.Commits, b.CommitsPerSec, b.Events, b.Mean, b.P50, b.P90)
		}
		p := rep.Rounds[len(rep.Rounds)-1].Floor.Pool
		fmt.Fprintf(w, "messages    %s: e.g. %d in %.2fs off the clock, avg %.0f B plaintext XML, %.0f B body; distinct MsgIds, %d openids, %d mini program(s)\n",
			rep.Generation, p.Messages, p.GenerateSeconds, p.AvgPlainBytes, p.AvgBodyBytes, numOpenIDs, rep.Apps)
	}
	fmt.Fprintf(w, "database    %s\n", rep.Database)
	fmt.Fprintf(w, "note        %s\n", rep.Note)
	for _, p := range rep.Profiles {
		fmt.Fprintf(w, "profile     %s (round %d, %s): go tool pprof -top -tagfocus side=%s %s\n", p.File, p.Round, p.Side, p.Side, p.File)
	}
	fmt.Fprintf(w, "logs        %d expected platform warnings about the unreachable stand-in WeChat (api_start_push_ticket) not shown\n", rep.ExpectedLog)
	if rep.SuppressedLog > 0 {
		fmt.Fprintf(w, "logs        %d further server log lines suppressed\n", rep.SuppressedLog)
	}
}
