package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// tokenMargin mirrors the platform's refresh margin (token.Margin): a token
// with less than this to live is due.
const tokenMargin = 20 * time.Minute

// left is what every token has to live, in WeChat's (the sandbox's) time,
// when the run starts: all are due at once, and 100k at 100 a second fit.
const left = tokenMargin - 30*time.Second

// measure makes every token due at once and watches the platform refresh them.
func (b *tokenBench) measure(ctx context.Context, rep *TokensReport, apps []string) error {
	faultApps, err := b.injectFault(ctx, rep, apps)
	if err != nil {
		return err
	}
	before := make([]map[string]float64, len(b.platforms))
	for i, p := range b.platforms {
		if before[i], err = apiCalls(ctx, b.api.http, p.url); err != nil {
			return err
		}
	}
	if rep.DBBytesBefore, err = b.db.size(ctx); err != nil {
		return err
	}
	// WeChat's clock moves on, so that the first token issued has `left` to
	// live; the platform's stored expiries all move to that moment, which is
	// at or before each token's real end: every token is due at once.
	start := time.Now()
	advance := 2*time.Hour - left - start.Sub(b.authStart)
	if advance < 0 {
		return errors.New("authorizing took longer than the tokens' margin allows")
	}
	if _, err := b.ctl.do(ctx, http.MethodPost, b.sandbox.url+"/sandbox/api/clock", map[string]string{"advance": advance.String()}, &struct{}{}); err != nil {
		return err
	}
	if _, err := b.db.comeDue(ctx, start.Add(left)); err != nil {
		return fmt.Errorf("moving the stored expiries: %w", err)
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("tokens made due together: the sandbox clock advanced %v and every stored expiry set to now+%v", advance.Round(time.Second), left))
	fmt.Fprintf(b.log, "wxload tokens: %d tokens due at once, rate %v/s\n", len(apps), b.s.rate)

	sctx, stopSampling := context.WithCancel(ctx)
	sm := &sampler{}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go b.sample(sctx, apps, sm, &wg)
	}
	err = b.watch(ctx, rep, apps, faultApps, start)
	stopSampling()
	wg.Wait()
	rep.Samples, rep.ServedExpired = sm.samples.Load(), sm.rejected.Load()
	if err != nil {
		return err
	}
	return b.tally(ctx, rep, before, len(apps))
}

// injectFault makes api_authorizer_token answer 45009 for a share of the
// apps, if asked and if the sandbox can aim a fault at some apps.
func (b *tokenBench) injectFault(ctx context.Context, rep *TokensReport, apps []string) ([]string, error) {
	if b.s.faultShare == 0 {
		return nil, nil
	}
	every := max(1, int(1/b.s.faultShare+0.5))
	var faulted []string
	for i := 0; i < len(apps); i += every {
		faulted = append(faulted, apps[i])
	}
	var f struct {
		AppIDs []string `json:"appids"`
	}
	if _, err := b.ctl.do(ctx, http.MethodPost, b.sandbox.url+"/sandbox/api/faults", map[string]any{
		"path": "/cgi-bin/component/api_authorizer_token", "errcode": 45009, "appids": faulted}, &f); err != nil {
		return nil, err
	}
	if len(f.AppIDs) != len(faulted) {
		// An older sandbox ignores "appids" and would fail every app.
		b.ctl.do(ctx, http.MethodDelete, b.sandbox.url+"/sandbox/api/faults", nil, nil)
		rep.Notes = append(rep.Notes, "THE SANDBOX CANNOT AIM A FAULT AT SOME APPS (no \"appids\" in faults): -fault-share skipped")
		return nil, nil
	}
	rep.Fault = &faultResult{Apps: len(faulted)}
	return faulted, nil
}

// watch polls the token health and the call counters once a second until
// every token is fresh (with a fault: every other one, then, once the fault
// is lifted, the faulted ones too).
func (b *tokenBench) watch(ctx context.Context, rep *TokensReport, apps, faulted []string, start time.Time) error {
	type point struct {
		at    time.Time
		calls float64
	}
	var points []point
	var lifted time.Time
	for {
		h, err := b.health(ctx)
		if err != nil {
			return err
		}
		rep.ExpiredSeen = max(rep.ExpiredSeen, h.Expired)
		if rep.Fault != nil && h.Paused {
			rep.Fault.Paused = true
		}
		total := 0.0
		for _, p := range b.platforms {
			c, err := apiCalls(ctx, b.api.http, p.url)
			if err != nil {
				return err
			}
			total += sum(c)
		}
		now := time.Now()
		points = append(points, point{now, total})
		// The busiest stretch of at least 5 s: a rate, not a sampling artefact.
		for i := len(points) - 2; i >= 0; i-- {
			if d := now.Sub(points[i].at); d >= 5*time.Second {
				rep.PeakCallsPerSec = max(rep.PeakCallsPerSec, (total-points[i].calls)/d.Seconds())
				break
			}
		}
		switch {
		case rep.Fault == nil && h.Fresh >= len(apps):
			rep.RefreshedSecs = time.Since(start).Seconds()
			return nil
		case rep.Fault != nil && lifted.IsZero() && h.Fresh >= len(apps)-len(faulted):
			rep.RefreshedSecs = time.Since(start).Seconds()
			rep.Fault.OthersFresh = h.Expired == 0 && rep.ExpiredSeen == 0
			if _, err := b.ctl.do(ctx, http.MethodDelete, b.sandbox.url+"/sandbox/api/faults", nil, nil); err != nil {
				return err
			}
			lifted = time.Now()
			fmt.Fprintf(b.log, "wxload tokens: the other %d are fresh after %.0f s; fault lifted\n", len(apps)-len(faulted), rep.RefreshedSecs)
		case !lifted.IsZero() && h.Fresh >= len(apps):
			rep.Fault.ResumedSecs = time.Since(lifted).Seconds()
			rep.Fault.ResumedWithin = rep.Fault.ResumedSecs <= 60
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("not done after %v (fresh %d, due %d, expired %d, failing %d): %w",
				time.Since(start).Round(time.Second), h.Fresh, h.Due, h.Expired, h.Failing, ctx.Err())
		}
		time.Sleep(time.Second)
	}
}

// tally reads the counters after the run.
func (b *tokenBench) tally(ctx context.Context, rep *TokensReport, before []map[string]float64, n int) error {
	for i, p := range b.platforms {
		after, err := apiCalls(ctx, b.api.http, p.url)
		if err != nil {
			return err
		}
		w := instanceWork{Calls: sum(after) - sum(before[i]), Refreshes: after["0"] - before[i]["0"]}
		rep.PerInstance = append(rep.PerInstance, w)
		rep.Refreshes += w.Refreshes
	}
	if rep.RefreshedSecs > 0 {
		done := rep.Refreshes
		if rep.Fault != nil { // the faulted apps were refreshed after the others' time was taken
			done -= float64(rep.Fault.Apps)
		}
		rep.RefreshRate = done / rep.RefreshedSecs
	}
	var calls struct {
		Items []struct {
			Path    string `json:"path"`
			Errcode int    `json:"errcode"`
			Count   int    `json:"count"`
		} `json:"items"`
	}
	if _, err := b.ctl.do(ctx, http.MethodGet, b.sandbox.url+"/sandbox/api/calls", nil, &calls); err != nil {
		return err
	}
	if calls.Items != nil {
		rep.DuplicatesFrom = "sandbox: api_authorizer_token answered 61023 (a rotated refresh token used again)"
		for _, it := range calls.Items {
			if strings.HasSuffix(it.Path, "/api_authorizer_token") && it.Errcode == 61023 {
				rep.Duplicates += it.Count
			}
		}
	} else {
		rep.DuplicatesFrom = "platform metrics: api_authorizer_token answered 61023 (this sandbox's GET /sandbox/api/calls has no errcodes)"
	}
	for i := range b.platforms {
		after, _ := apiCalls(ctx, b.api.http, b.platforms[i].url)
		if calls.Items == nil {
			rep.Duplicates += int(after["61023"] - before[i]["61023"])
		}
	}
	var reauth struct {
		Total int `json:"total"`
	}
	if _, err := b.api.do(ctx, http.MethodGet, b.platforms[0].url+"/api/v1/authorizers?status=reauthorization_needed&limit=1", nil, &reauth); err != nil {
		return err
	}
	rep.Reauthorization = reauth.Total
	var err error
	if rep.DBBytesAfter, err = b.db.size(ctx); err != nil {
		return err
	}
	if rep.Refreshes > 0 {
		// Each token is refreshed every 100 minutes (2 h, 20 min early).
		perRefresh := float64(rep.DBBytesAfter-rep.DBBytesBefore) / rep.Refreshes
		rep.DBBytesPerHour = perRefresh * float64(n) * 60 / 100
	}
	return nil
}

func printTokens(w io.Writer, r *TokensReport) {
	fmt.Fprintf(w, "authorizers   %d (%s, %.0f s)\n", r.Authorizers, r.AuthorizeMethod, r.AuthorizeSecs)
	fmt.Fprintf(w, "platform      %d instance(s) on %s, --refresh-rate %v\n", r.Instances, r.Database, r.Rate)
	fmt.Fprintf(w, "refreshed     all in %.1f s: %.0f refreshes, %.1f/s, peak %.1f calls/s over 5 s\n", r.RefreshedSecs, r.Refreshes, r.RefreshRate, r.PeakCallsPerSec)
	fmt.Fprintf(w, "duplicates    %d (%s); reauthorization_needed %d\n", r.Duplicates, r.DuplicatesFrom, r.Reauthorization)
	fmt.Fprintf(w, "served        %d sampled tokens, %d rejected by WeChat as invalid or expired; most expired at once %d\n", r.Samples, r.ServedExpired, r.ExpiredSeen)
	for i, p := range r.PerInstance {
		fmt.Fprintf(w, "instance %d    %.0f calls, %.0f refreshes, peak RSS %.0f MiB\n", i+1, p.Calls, p.Refreshes, p.PeakRSSMiB)
	}
	fmt.Fprintf(w, "sandbox       peak RSS %.0f MiB\n", r.SandboxRSSMiB)
	fmt.Fprintf(w, "database      %d → %d bytes during the run; steady state ≈ %.1f MiB/hour at %d tokens\n", r.DBBytesBefore, r.DBBytesAfter, r.DBBytesPerHour/(1<<20), r.Authorizers)
	if f := r.Fault; f != nil {
		fmt.Fprintf(w, "fault         45009 on %d apps: others fresh %v, platform paused %v, all fresh %.0f s after lifting (within 60 s: %v)\n",
			f.Apps, f.OthersFresh, f.Paused, f.ResumedSecs, f.ResumedWithin)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note          %s\n", n)
	}
}
