package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/lease"
	"github.com/wxfleet/wxfleet/wechat"
)

// Store is what the keeper reads and writes.
type Store interface {
	Platform(ctx context.Context, appID string) (*wxfleet.Platform, error)
	Ticket(ctx context.Context, componentAppID string) (*wxfleet.Ticket, error)
	ComponentToken(ctx context.Context, componentAppID string) (*wxfleet.Token, error)
	SaveComponentToken(ctx context.Context, componentAppID string, t wxfleet.Token) error
	lease.Store
	Authorizer(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error)
	SaveAuthorizerToken(ctx context.Context, componentAppID, appID string, access wxfleet.Token, refresh wxfleet.Secret) error
	SetAuthorizerStatus(ctx context.Context, componentAppID, appID string, status wxfleet.AuthorizerStatus, now time.Time) error
}

// Margin is how long before expiry a token is refreshed. WeChat's tokens live
// 7200 s; refreshing 20 minutes early leaves room for retries and outages.
const Margin = 20 * time.Minute

// Keeper hands out valid tokens and refreshes them.
type Keeper struct {
	Store   Store
	WeChat  *wechat.Client
	Now     func() time.Time
	Owner   string // prefixes this instance's lease owner tokens (one per acquisition)
	Logger  *slog.Logger
	Observe func(kind, result string) // metrics hook, may be nil
	// Guard, if set, is consulted around every api_authorizer_token call
	// (pauses and failure records: see Breaker).
	Guard CallGuard
	// Wait pauses between lease attempts; injectable for tests.
	Wait func(ctx context.Context, d time.Duration) error

	ticketAsked sync.Map // component appid → time.Time of the last api_start_push_ticket
	leasesOnce  sync.Once
	leases      *lease.Leases
	flights     lease.Group[refreshKey, string]
}

func (k *Keeper) wait(ctx context.Context, d time.Duration) error {
	if k.Wait != nil {
		return k.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (k *Keeper) observe(kind, result string) {
	if k.Observe != nil {
		k.Observe(kind, result)
	}
}

// fresh tells whether t can be handed out now: set and not within minLeft of expiry.
func (k *Keeper) fresh(t *wxfleet.Token, minLeft time.Duration) bool {
	return t != nil && t.Value != "" && k.Now().Add(minLeft).Before(t.ExpiresAt)
}

// ComponentToken returns a valid component_access_token, refreshing it when
// it is missing or expires within a minute.
func (k *Keeper) ComponentToken(ctx context.Context, componentAppID string) (string, error) {
	t, err := k.Store.ComponentToken(ctx, componentAppID)
	if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		return "", err
	}
	if k.fresh(t, time.Minute) {
		return t.Value.Reveal(), nil
	}
	return k.RefreshComponent(ctx, componentAppID, "", time.Minute)
}

// RefreshComponent gets a new component token from WeChat unless the stored
// one differs from stale and has more than minLeft to live (another instance
// refreshed it meanwhile).
func (k *Keeper) RefreshComponent(ctx context.Context, componentAppID, stale string, minLeft time.Duration) (string, error) {
	key := refreshKey{lease: "component_token:" + componentAppID, stale: stale, minLeft: minLeft}
	return k.underLease(ctx, key, func(ctx context.Context) (string, error) {
		if t, err := k.Store.ComponentToken(ctx, componentAppID); err == nil && t.Value.Reveal() != stale && k.fresh(t, minLeft) {
			return t.Value.Reveal(), nil
		}
		p, err := k.Store.Platform(ctx, componentAppID)
		if err != nil {
			return "", err
		}
		ticket, err := k.Store.Ticket(ctx, componentAppID)
		if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			return "", err
		}
		if !ticket.ValidAt(k.Now()) {
			k.askForTicket(ctx, p)
			k.observe("component", "no_ticket")
			return "", wxfleet.Errorf(wxfleet.EUNAVAILABLE,
				"平台 %s 还没有有效的 component_verify_ticket，已请求微信推送，请稍候 / platform %s has no valid component_verify_ticket yet; asked WeChat to push one, retry shortly",
				componentAppID, componentAppID)
		}
		resp, err := k.WeChat.ComponentToken(ctx, p.AppID, p.Secret.Reveal(), ticket.Value.Reveal())
		if err != nil {
			var we *wechat.Error
			if errors.As(err, &we) && (we.Code == 61005 || we.Code == 61006) {
				k.askForTicket(ctx, p)
			}
			k.observe("component", "error")
			return "", wxfleet.WrapError(wxfleet.EUNAVAILABLE, "获取 component_access_token 失败 / getting the component_access_token failed", err)
		}
		t := wxfleet.Token{Value: wxfleet.Secret(resp.Token), ExpiresAt: k.Now().Add(time.Duration(resp.ExpiresIn) * time.Second)}
		if err := k.Store.SaveComponentToken(ctx, componentAppID, t); err != nil {
			return "", err
		}
		k.observe("component", "ok")
		k.Logger.Info("component token refreshed", "component_appid", componentAppID, "expires_at", t.ExpiresAt)
		return resp.Token, nil
	})
}

// askForTicket calls api_start_push_ticket, at most once a minute per
// platform: every token request while the ticket is missing ends up here.
func (k *Keeper) askForTicket(ctx context.Context, p *wxfleet.Platform) {
	now := k.Now()
	if last, ok := k.ticketAsked.Load(p.AppID); ok && now.Sub(last.(time.Time)) < time.Minute {
		return
	}
	k.ticketAsked.Store(p.AppID, now)
	if err := k.WeChat.StartPushTicket(ctx, p.AppID, p.Secret.Reveal()); err != nil {
		k.Logger.Warn("api_start_push_ticket failed", "component_appid", p.AppID, "err", err)
		return
	}
	k.Logger.Info("asked WeChat to push a component_verify_ticket", "component_appid", p.AppID)
}

// AuthorizerToken returns a valid authorizer_access_token for appID.
func (k *Keeper) AuthorizerToken(ctx context.Context, componentAppID, appID string) (string, error) {
	a, err := k.Store.Authorizer(ctx, componentAppID, appID)
	if err != nil {
		return "", err
	}
	if err := usable(a); err != nil {
		return "", err
	}
	if k.fresh(&wxfleet.Token{Value: a.AccessToken, ExpiresAt: a.TokenExpiresAt}, time.Minute) {
		return a.AccessToken.Reveal(), nil
	}
	return k.RefreshAuthorizer(ctx, componentAppID, appID, "", time.Minute)
}

func usable(a *wxfleet.Authorizer) error { return a.Status.Unusable(a.AppID) }

// ForcedRefreshInterval is the least time between two refreshes of one
// authorizer's token forced by WeChat rejecting it as invalid (40001, 40014).
// A token rejected again so soon after a refresh is not cured by another one
// (the call wants another kind of token, or WeChat is misbehaving), and every
// refresh spends api_authorizer_token quota.
const ForcedRefreshInterval = 5 * time.Minute

// ForcedRefreshLease names the mark a forced refresh of an authorizer's
// token leaves for ForcedRefreshInterval, shared by every instance.
func ForcedRefreshLease(componentAppID, appID string) string {
	return "authorizer_forced_refresh:" + componentAppID + ":" + appID
}

// RefreshAuthorizer exchanges the stored refresh token for a new access token
// unless the stored token differs from stale and has more than minLeft to live.
// A non-empty stale is a forced refresh (WeChat rejected it): at most one per
// ForcedRefreshInterval. WeChat's 61023 (refresh token invalid) marks the
// authorizer reauthorization_needed.
func (k *Keeper) RefreshAuthorizer(ctx context.Context, componentAppID, appID, stale string, minLeft time.Duration) (string, error) {
	return k.refreshAuthorizer(ctx, componentAppID, appID, refreshKey{stale: stale, minLeft: minLeft, limited: stale != ""})
}

// InvalidateAuthorizer is told that WeChat rejected stale with rejection, and
// refreshes unless the store already holds another token. 42001 (expired)
// always may: it means WeChat's clock is past the token's end, which a new
// token cures. 40001 and 40014 are limited to one per ForcedRefreshInterval
// (docs/wechat-tokens.md).
func (k *Keeper) InvalidateAuthorizer(ctx context.Context, componentAppID, appID, stale string, rejection *wechat.Error) error {
	limited := rejection == nil || rejection.Code != wechat.CodeTokenExpired
	_, err := k.refreshAuthorizer(ctx, componentAppID, appID, refreshKey{stale: stale, limited: limited})
	return err
}

func (k *Keeper) refreshAuthorizer(ctx context.Context, componentAppID, appID string, key refreshKey) (string, error) {
	key.lease = AuthorizerLease(componentAppID, appID)
	stale, minLeft := key.stale, key.minLeft
	return k.underLease(ctx, key, func(ctx context.Context) (string, error) {
		a, err := k.Store.Authorizer(ctx, componentAppID, appID)
		if err != nil {
			return "", err
		}
		if err := usable(a); err != nil {
			return "", err
		}
		cur := &wxfleet.Token{Value: a.AccessToken, ExpiresAt: a.TokenExpiresAt}
		if a.AccessToken.Reveal() != stale && k.fresh(cur, minLeft) {
			return a.AccessToken.Reveal(), nil
		}
		if a.RefreshToken == "" {
			return "", wxfleet.Errorf(wxfleet.ECONFLICT, "小程序 %s 没有 refresh token / %s has no refresh token", appID, appID)
		}
		if key.limited {
			if err := k.mayForceRefresh(ctx, componentAppID, appID); err != nil {
				return "", err
			}
		}
		resp, err := k.callAuthorizerToken(ctx, componentAppID, appID, a.RefreshToken.Reveal())
		if err != nil {
			var we *wechat.Error
			if errors.As(err, &we) && (we.Code == 61023 || we.Code == 61003) {
				status := wxfleet.StatusReauthorizationNeeded
				if we.Code == 61003 {
					status = wxfleet.StatusRevoked
				}
				if serr := k.Store.SetAuthorizerStatus(ctx, componentAppID, appID, status, k.Now()); serr != nil {
					return "", serr
				}
				k.observe("authorizer", "rejected")
				k.Logger.Warn("authorizer refresh token rejected", "component_appid", componentAppID, "appid", appID, "errcode", we.Code, "status", status)
				return "", wxfleet.WrapError(wxfleet.ECONFLICT, fmt.Sprintf("微信拒绝了 %s 的 refresh token，需要商家重新授权 / WeChat rejected the refresh token of %s: the merchant must authorize again", appID, appID), err)
			}
			k.observe("authorizer", "error")
			return "", wxfleet.WrapError(wxfleet.EUNAVAILABLE, "刷新授权方令牌失败 / refreshing the authorizer token failed", err)
		}
		t := wxfleet.Token{Value: wxfleet.Secret(resp.AccessToken), ExpiresAt: k.Now().Add(time.Duration(resp.ExpiresIn) * time.Second)}
		if err := k.saveAuthorizerToken(ctx, componentAppID, appID, t, wxfleet.Secret(resp.RefreshToken)); err != nil {
			return "", err
		}
		k.observe("authorizer", "ok")
		return resp.AccessToken, nil
	})
}

// mayForceRefresh takes the forced-refresh mark of the authorizer, or says
// why not: another forced refresh, here or on another instance, happened less
// than ForcedRefreshInterval ago. The mark is never released: it expires.
func (k *Keeper) mayForceRefresh(ctx context.Context, componentAppID, appID string) error {
	ok, err := k.Leases().TryOnce(ctx, ForcedRefreshLease(componentAppID, appID), ForcedRefreshInterval)
	if err != nil {
		return err
	}
	if !ok {
		k.observe("authorizer", "forced_refresh_refused")
		return wxfleet.Errorf(wxfleet.EUNAVAILABLE,
			"微信拒绝了 %s 的授权方令牌，而它在 %v 内已强制刷新过一次：再刷新也无济于事，请检查调用的接口是否需要这种令牌 / WeChat rejected the authorizer token of %s, which was already force-refreshed less than %v ago: another refresh would not help; check that the API takes this kind of token",
			appID, ForcedRefreshInterval, appID, ForcedRefreshInterval)
	}
	k.Logger.Warn("WeChat rejected a current authorizer token; forcing a refresh", "component_appid", componentAppID, "appid", appID)
	return nil
}

// saveAuthorizerToken insists: WeChat may have rotated the refresh token, and
// the new one exists nowhere but in this response. A short database hiccup
// must not lose it.
func (k *Keeper) saveAuthorizerToken(ctx context.Context, componentAppID, appID string, t wxfleet.Token, refresh wxfleet.Secret) error {
	var err error
	for i := 0; i < 8; i++ {
		// Detached from the caller: a cancelled request must not stop the save.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = k.Store.SaveAuthorizerToken(sctx, componentAppID, appID, t, refresh)
		cancel()
		if err == nil {
			return nil
		}
		k.Logger.Error("saving a refreshed authorizer token failed; retrying", "component_appid", componentAppID, "appid", appID, "attempt", i+1, "err", err)
		if werr := k.wait(context.WithoutCancel(ctx), time.Duration(1<<i)*100*time.Millisecond); werr != nil {
			break
		}
	}
	return err
}

// AuthorizerLease is the lease name that serialises everything that writes an
// authorizer's tokens: refreshes and (re-)authorization.
func AuthorizerLease(componentAppID, appID string) string {
	return "authorizer_token:" + componentAppID + ":" + appID
}

// Leases is the lease helper the keeper and the authorization flow share:
// built once from the keeper's Store, Owner, Now, Wait and Logger.
func (k *Keeper) Leases() *lease.Leases {
	k.leasesOnce.Do(func() {
		k.leases = &lease.Leases{Store: k.Store, Owner: k.Owner, Now: k.Now, Wait: k.Wait, Logger: k.Logger}
	})
	return k.leases
}

// refreshKey names one kind of refresh request: callers asking the same thing
// of the same token at once share one run (the in-flight refresh).
type refreshKey struct {
	lease   string
	stale   string
	minLeft time.Duration
	limited bool // a forced refresh, subject to ForcedRefreshInterval
}

// underLease runs fn holding the lease key names, sharing the run with every
// caller of this process that asks the same (stale, minLeft) meanwhile.
// Callers asking something else, and other instances, wait for the lease:
// fn re-reads the store first, so they usually find the token the holder
// just refreshed.
func (k *Keeper) underLease(ctx context.Context, key refreshKey, fn func(ctx context.Context) (string, error)) (string, error) {
	return k.flights.Do(ctx, key, func(ctx context.Context) (string, error) {
		var tok string
		err := k.Leases().Do(ctx, key.lease, func(ctx context.Context) error {
			var err error
			tok, err = fn(ctx)
			return err
		})
		return tok, err
	})
}

// ComponentSource is a wechat.TokenSource for a platform's component token.
func (k *Keeper) ComponentSource(componentAppID string) wechat.TokenSource {
	return &source{get: func(ctx context.Context) (string, error) { return k.ComponentToken(ctx, componentAppID) },
		refresh: func(ctx context.Context, stale string, _ *wechat.Error) error {
			_, err := k.RefreshComponent(ctx, componentAppID, stale, 0)
			return err
		}}
}

// AuthorizerSource is a wechat.TokenSource for one authorizer's token.
func (k *Keeper) AuthorizerSource(componentAppID, appID string) wechat.TokenSource {
	return &source{get: func(ctx context.Context) (string, error) { return k.AuthorizerToken(ctx, componentAppID, appID) },
		refresh: func(ctx context.Context, stale string, rejection *wechat.Error) error {
			return k.InvalidateAuthorizer(ctx, componentAppID, appID, stale, rejection)
		}}
}

// ForwardSource is the TokenSource for forwarding a call to path with the
// authorizer's token. Paths under /cgi-bin/component/ are forwarded too (the
// privacy and authorizer-option APIs live there and take the authorizer
// token), but WeChat rejecting the token there never refreshes it: most of
// those APIs take the component_access_token, which no authorizer-token
// refresh can provide, so the rejection is returned to the caller instead
// (docs/wechat-tokens.md).
func (k *Keeper) ForwardSource(componentAppID, appID, path string) wechat.TokenSource {
	src := k.AuthorizerSource(componentAppID, appID)
	if !strings.HasPrefix(path, "/cgi-bin/component/") {
		return src
	}
	return &source{get: src.Token, refresh: func(context.Context, string, *wechat.Error) error {
		return wxfleet.Errorf(wxfleet.EINVALID,
			"微信拒绝了转发到 %s 的授权方令牌；/cgi-bin/component/ 下的接口大多要 component_access_token，刷新授权方令牌无济于事，所以没有刷新 / WeChat rejected the authorizer token forwarded to %s: most /cgi-bin/component/ APIs take the component_access_token, which refreshing the authorizer token cannot give, so it was not refreshed",
			path, path)
	}}
}

type source struct {
	get     func(context.Context) (string, error)
	refresh func(context.Context, string, *wechat.Error) error
}

func (s *source) Token(ctx context.Context) (string, error) { return s.get(ctx) }

// Invalidate re-reads the store first (inside refresh): if another instance
// already replaced the rejected token, no call to WeChat is made.
func (s *source) Invalidate(ctx context.Context, stale string, rejection *wechat.Error) error {
	return s.refresh(ctx, stale, rejection)
}
