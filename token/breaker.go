package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/wechat"
)

// APIAuthorizerToken names api_authorizer_token in pauses and pacers.
const APIAuthorizerToken = "api_authorizer_token"

// ErrPaused is wrapped by the error of a refresh that was not sent because
// api_authorizer_token is paused for the platform.
var ErrPaused = errors.New("api_authorizer_token paused")

// CallGuard is consulted around every api_authorizer_token call: Allow before
// it (an error means: do not call), Done after it with its result.
type CallGuard interface {
	Allow(ctx context.Context, componentAppID string) error
	Done(ctx context.Context, componentAppID, appID string, err error)
}

// callAuthorizerToken is the keeper's one call to api_authorizer_token,
// inside the guard.
func (k *Keeper) callAuthorizerToken(ctx context.Context, componentAppID, appID, refresh string) (*wechat.AuthorizerTokenResp, error) {
	if k.Guard != nil {
		if err := k.Guard.Allow(ctx, componentAppID); err != nil {
			return nil, err
		}
	}
	resp, err := k.WeChat.AuthorizerToken(ctx, k.ComponentSource(componentAppID), componentAppID, appID, refresh)
	if k.Guard != nil {
		k.Guard.Done(ctx, componentAppID, appID, err)
	}
	return resp, err
}

// BreakerStore is what the breaker records.
type BreakerStore interface {
	APIPause(ctx context.Context, componentAppID, api string) (store.APIPause, bool, error)
	PauseAPI(ctx context.Context, p store.APIPause) error
	ClaimProbe(ctx context.Context, componentAppID, api string, now, until time.Time) (bool, error)
	ResumeAPI(ctx context.Context, componentAppID, api string) error
	RecordRefreshFailure(ctx context.Context, f store.RefreshFailure) (int, error)
	RecordRefreshSuccess(ctx context.Context, componentAppID, appID string) (bool, error)
}

// Breaker tuning. A pause lasts PauseFor, then one probe call (claimed in the
// database, so one for the whole cluster) tells whether the error cleared:
// refreshing resumes at most PauseFor plus a sweep after it did.
const (
	PauseFor = 20 * time.Second
	// A platform trips when, among the last calls for authorizers that were
	// not failing already (at most windowSize, within windowAge), at least
	// tripMin failed with a quota or outage error and they are tripRatio of
	// all. Retries of failing authorizers do not count: a tenth of the fleet
	// failing again and again must not pause the other nine tenths.
	windowSize = 50
	windowAge  = 2 * time.Minute
	tripMin    = 10
	tripRatio  = 0.8
	// Backoff before a failing authorizer is swept again: RetryStep per
	// consecutive failure, at most RetryMax, well below a token's 20 minutes
	// of margin: once a per-app error clears, the next sweep after RetryMax
	// (≤ 10 s) refreshes it, within a minute.
	RetryStep = 15 * time.Second
	RetryMax  = 40 * time.Second
	// Each authorizer's failure is logged at WARN at most once per
	// warnEvery; a summary line covers every failure once a minute.
	warnEvery    = 10 * time.Minute
	summaryEvery = time.Minute
)

// Breaker is the CallGuard of api_authorizer_token: it records every failed
// refresh in the store, logs it at WARN (rate-limited, with what to do),
// and pauses the API for a platform, for every instance, when most recent
// calls fail with a quota (45009) or outage error (-1, no answer, HTTP
// status, no component token).
type Breaker struct {
	Store  BreakerStore
	Now    func() time.Time
	Logger *slog.Logger

	mu      sync.Mutex
	windows map[string]*window   // platform → recent outcomes
	probing map[string]int       // platform → probe calls in flight here
	warned  map[string]time.Time // platform/appid → last WARN line
	sum     summary
}

type outcome struct {
	at   time.Time
	fail bool
}

// window is a ring of recent call outcomes of one platform.
type window struct {
	ring []outcome
	next int
}

func (w *window) add(o outcome) {
	if len(w.ring) < windowSize {
		w.ring = append(w.ring, o)
		return
	}
	w.ring[w.next] = o
	w.next = (w.next + 1) % windowSize
}

// tripped tells whether the recent outcomes call for a pause.
func (w *window) tripped(now time.Time) (fails, n int, trip bool) {
	for _, o := range w.ring {
		if now.Sub(o.at) > windowAge {
			continue
		}
		n++
		if o.fail {
			fails++
		}
	}
	return fails, n, fails >= tripMin && float64(fails) >= tripRatio*float64(n)
}

type summary struct {
	since      time.Time
	failed     int
	suppressed int
	codes      map[int]int
}

func (b *Breaker) init() {
	if b.windows == nil {
		b.windows, b.probing, b.warned = map[string]*window{}, map[string]int{}, map[string]time.Time{}
		b.sum.codes = map[int]int{}
	}
}

// Allow refuses while the platform's pause runs; once it has run out, it
// lets exactly one caller of the cluster through as the probe.
func (b *Breaker) Allow(ctx context.Context, componentAppID string) error {
	p, ok, err := b.Store.APIPause(ctx, componentAppID, APIAuthorizerToken)
	if err != nil || !ok {
		return err
	}
	now := b.Now()
	if p.Until.After(now) {
		return pausedError(p)
	}
	won, err := b.Store.ClaimProbe(ctx, componentAppID, APIAuthorizerToken, now, now.Add(PauseFor))
	if err != nil {
		return err
	}
	if !won {
		p.Until = now.Add(PauseFor)
		return pausedError(p)
	}
	b.mu.Lock()
	b.init()
	b.probing[componentAppID]++
	b.mu.Unlock()
	b.Logger.Info("api_authorizer_token paused: probing whether it cleared", "component_appid", componentAppID,
		"errcode", p.Errcode, "paused_since", p.Since, "probe", p.Probes+1)
	return nil
}

func pausedError(p store.APIPause) error {
	return wxfleet.WrapError(wxfleet.EUNAVAILABLE, fmt.Sprintf(
		"平台 %s 的 api_authorizer_token 因错误码 %d 暂停至 %s，探测成功后自动恢复 / api_authorizer_token is paused for platform %s until %s after errcode %d; it resumes by itself once a probe call succeeds",
		p.ComponentAppID, p.Errcode, p.Until.Format(time.RFC3339), p.ComponentAppID, p.Until.Format(time.RFC3339), p.Errcode), ErrPaused)
}

// Done records the outcome of a call Allow let through.
func (b *Breaker) Done(ctx context.Context, componentAppID, appID string, callErr error) {
	// The bookkeeping must happen even if the caller gave up meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := b.Now()
	b.mu.Lock()
	b.init()
	probe := b.probing[componentAppID] > 0
	if probe {
		b.probing[componentAppID]--
	}
	b.mu.Unlock()
	if callErr == nil {
		b.succeeded(ctx, componentAppID, appID, probe, now)
		return
	}
	code, fleet := classify(callErr)
	failures, err := b.Store.RecordRefreshFailure(ctx, store.RefreshFailure{
		ComponentAppID: componentAppID, AppID: appID, Errcode: code, Error: callErr.Error(), At: now,
		Backoff: RetryStep, MaxBackoff: RetryMax,
	})
	if err != nil {
		b.Logger.Error("recording a failed authorizer token refresh", "component_appid", componentAppID, "appid", appID, "err", err)
	}
	b.logFailure(componentAppID, appID, code, failures, callErr, now)
	switch {
	case probe && fleet:
		b.pause(ctx, componentAppID, code, callErr, now, "the probe call failed again")
	case probe:
		// WeChat answered with an error about this authorizer: the API itself works.
		b.resume(ctx, componentAppID, now)
	case fleet && failures <= 1:
		b.mu.Lock()
		w := b.window(componentAppID)
		w.add(outcome{now, true})
		fails, n, trip := w.tripped(now)
		if trip {
			w.ring, w.next = nil, 0
		}
		b.mu.Unlock()
		if trip {
			b.pause(ctx, componentAppID, code, callErr, now, fmt.Sprintf("%d of the last %d calls for authorizers not failing before failed", fails, n))
		}
	case !fleet:
		b.mu.Lock()
		b.window(componentAppID).add(outcome{now, false})
		b.mu.Unlock()
	}
}

func (b *Breaker) window(componentAppID string) *window {
	w := b.windows[componentAppID]
	if w == nil {
		w = &window{}
		b.windows[componentAppID] = w
	}
	return w
}

func (b *Breaker) succeeded(ctx context.Context, componentAppID, appID string, probe bool, now time.Time) {
	b.mu.Lock()
	b.window(componentAppID).add(outcome{now, false})
	b.mu.Unlock()
	if probe {
		b.resume(ctx, componentAppID, now)
	}
	was, err := b.Store.RecordRefreshSuccess(ctx, componentAppID, appID)
	if err != nil {
		b.Logger.Error("recording a refreshed authorizer token", "component_appid", componentAppID, "appid", appID, "err", err)
	}
	if was {
		b.Logger.Info("authorizer token refreshed again after failures", "component_appid", componentAppID, "appid", appID)
	}
}

func (b *Breaker) pause(ctx context.Context, componentAppID string, code int, cause error, now time.Time, why string) {
	p := store.APIPause{ComponentAppID: componentAppID, API: APIAuthorizerToken, Until: now.Add(PauseFor), Since: now,
		Errcode: code, Reason: truncate(cause.Error(), 300)}
	if err := b.Store.PauseAPI(ctx, p); err != nil {
		b.Logger.Error("pausing api_authorizer_token", "component_appid", componentAppID, "err", err)
		return
	}
	b.Logger.Warn("api_authorizer_token paused for the whole platform: no instance refreshes its tokens until a probe call succeeds",
		"component_appid", componentAppID, "errcode", code, "why", why, "probe_in", PauseFor, "action", action(code), "err", cause)
}

func (b *Breaker) resume(ctx context.Context, componentAppID string, now time.Time) {
	p, ok, err := b.Store.APIPause(ctx, componentAppID, APIAuthorizerToken)
	if err == nil && ok {
		err = b.Store.ResumeAPI(ctx, componentAppID, APIAuthorizerToken)
	}
	if err != nil {
		b.Logger.Error("resuming api_authorizer_token", "component_appid", componentAppID, "err", err)
		return
	}
	if ok {
		b.Logger.Warn("api_authorizer_token resumed: the probe call succeeded", "component_appid", componentAppID,
			"paused_for", now.Sub(p.Since).Round(time.Second), "errcode", p.Errcode, "probes", p.Probes)
	}
}

// classify returns the errcode to record (-2 when WeChat gave none) and
// whether the error is the API's or WeChat's as a whole (quota, outage, the
// platform's own credentials) rather than one authorizer's.
func classify(err error) (code int, fleet bool) {
	var we *wechat.Error
	if errors.As(err, &we) {
		switch {
		case we.Code == wechat.CodeQuotaExceeded || we.Code == wechat.CodeSystemBusy || we.Code == 45011:
			return we.Code, true
		case !strings.HasSuffix(we.Path, "/"+APIAuthorizerToken):
			return we.Code, true // the component token behind every refresh
		}
		return we.Code, false
	}
	return -2, true // no answer: network, timeout, HTTP status, no ticket
}

// action says what an operator can do about a failed refresh.
func action(code int) string {
	switch code {
	case wechat.CodeQuotaExceeded:
		return "api_authorizer_token 今日调用次数已达上限：北京时间零点恢复，或调用 clear_quota；期间暂停刷新、自动探测恢复 / the daily quota of api_authorizer_token is used up: it resets at midnight Beijing time, or call clear_quota; refreshing pauses and resumes by itself"
	case wechat.CodeSystemBusy:
		return "微信系统繁忙，自动重试 / WeChat is busy: retried automatically"
	case -2:
		return "微信无应答：检查本机到 api.weixin.qq.com 的网络与超时，或平台的 component_verify_ticket；自动重试 / no answer from WeChat: check this server's connection to api.weixin.qq.com, or the platform's component_verify_ticket; retried automatically"
	case wechat.CodeRefreshTokenInvalid, wechat.CodeNotAuthorized:
		return "需要商家重新授权 / the merchant must authorize again"
	case wechat.CodeIPNotWhitelisted, wechat.CodeInvalidSecret, wechat.CodeTicketExpired, wechat.CodeTicketInvalid:
		return "检查第三方平台的配置（白名单、appsecret、ticket）/ check the platform's settings (IP whitelist, appsecret, ticket)"
	}
	return "按错误码查微信文档；该授权方稍后自动重试，其他授权方不受影响 / look the errcode up in WeChat's documentation; this authorizer is retried with backoff, the others are not held up"
}

// logFailure writes one WARN line per authorizer per warnEvery and, once a
// minute, a summary of every failure.
func (b *Breaker) logFailure(componentAppID, appID string, code, failures int, err error, now time.Time) {
	key := componentAppID + "/" + appID
	b.mu.Lock()
	if b.sum.since.IsZero() {
		b.sum.since = now
	}
	b.sum.failed++
	b.sum.codes[code]++
	last, seen := b.warned[key]
	warn := !seen || now.Sub(last) >= warnEvery
	if warn {
		b.warned[key] = now
		if len(b.warned) > 100_000 {
			for k, t := range b.warned {
				if now.Sub(t) >= warnEvery {
					delete(b.warned, k)
				}
			}
		}
	} else {
		b.sum.suppressed++
	}
	var done summary
	if now.Sub(b.sum.since) >= summaryEvery {
		done, b.sum = b.sum, summary{since: now, codes: map[int]int{}}
	}
	b.mu.Unlock()
	if warn {
		b.Logger.Warn("authorizer token refresh failed", "component_appid", componentAppID, "appid", appID,
			"errcode", code, "consecutive_failures", failures, "action", action(code), "err", err)
	}
	if done.failed > 0 {
		b.Logger.Warn("authorizer token refreshes failed", "since", done.since, "failed", done.failed,
			"by_errcode", codeCounts(done.codes), "not_logged_one_by_one", done.suppressed)
	}
}

func codeCounts(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, strconv.Itoa(c)+"×"+strconv.Itoa(m[c]))
	}
	return strings.Join(parts, " ")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
