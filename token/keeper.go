package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wechat"
)

// Store is what the keeper reads and writes.
type Store interface {
	Platform(ctx context.Context, appID string) (*wxfleet.Platform, error)
	Ticket(ctx context.Context, componentAppID string) (*wxfleet.Ticket, error)
	ComponentToken(ctx context.Context, componentAppID string) (*wxfleet.Token, error)
	SaveComponentToken(ctx context.Context, componentAppID string, t wxfleet.Token) error
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
	Authorizer(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error)
	SaveAuthorizerToken(ctx context.Context, componentAppID, appID string, access wxfleet.Token, refresh wxfleet.Secret) error
	SetAuthorizerStatus(ctx context.Context, componentAppID, appID, status string, now time.Time) error
}

// Margin is how long before expiry a token is refreshed. WeChat's tokens live
// 7200 s; refreshing 20 minutes early leaves room for retries and outages.
const Margin = 20 * time.Minute

// leaseTTL outlives one WeChat call with its retries.
const leaseTTL = time.Minute

// Keeper hands out valid tokens and refreshes them.
type Keeper struct {
	Store   Store
	WeChat  *wechat.Client
	Now     func() time.Time
	Owner   string // this instance's lease owner id
	Logger  *slog.Logger
	Observe func(kind, result string) // metrics hook, may be nil
	// Guard, if set, is consulted around every api_authorizer_token call
	// (pauses and failure records: see Breaker).
	Guard CallGuard
	// Wait pauses between lease attempts; injectable for tests.
	Wait func(ctx context.Context, d time.Duration) error

	ticketAsked sync.Map // component appid → time.Time of the last api_start_push_ticket
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
	lease := "component_token:" + componentAppID
	return k.underLease(ctx, lease, func() (string, error) {
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

func usable(a *wxfleet.Authorizer) error {
	switch a.Status {
	case wxfleet.StatusAuthorized:
		return nil
	case wxfleet.StatusReauthorizationNeeded:
		return wxfleet.Errorf(wxfleet.ECONFLICT, "小程序 %s 需要商家重新授权（refresh token 已失效）/ %s needs the merchant to authorize again (refresh token rejected)", a.AppID, a.AppID)
	default:
		return wxfleet.Errorf(wxfleet.ECONFLICT, "小程序 %s 当前未授权（状态 %s）/ %s is not authorized (status %s)", a.AppID, a.Status, a.AppID, a.Status)
	}
}

// RefreshAuthorizer exchanges the stored refresh token for a new access token
// unless the stored token differs from stale and has more than minLeft to live.
// WeChat's 61023 (refresh token invalid) marks the authorizer
// reauthorization_needed.
func (k *Keeper) RefreshAuthorizer(ctx context.Context, componentAppID, appID, stale string, minLeft time.Duration) (string, error) {
	lease := AuthorizerLease(componentAppID, appID)
	return k.underLease(ctx, lease, func() (string, error) {
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

// underLease runs fn holding the named lease. If another instance holds it,
// it waits and retries: fn itself re-reads the store, so the waiter usually
// finds the token the holder just refreshed.
func (k *Keeper) underLease(ctx context.Context, name string, fn func() (string, error)) (string, error) {
	for attempt := 0; ; attempt++ {
		ok, err := k.Store.AcquireLease(ctx, name, k.Owner, leaseTTL, k.Now())
		if err != nil {
			return "", err
		}
		if ok {
			defer func() {
				if err := k.Store.ReleaseLease(context.WithoutCancel(ctx), name, k.Owner); err != nil {
					k.Logger.Warn("releasing lease failed", "lease", name, "err", err)
				}
			}()
			return fn()
		}
		if attempt >= 100 {
			return "", wxfleet.Errorf(wxfleet.EUNAVAILABLE, "令牌正由其他实例刷新，请稍后重试 / the token is being refreshed by another instance; retry shortly")
		}
		if err := k.wait(ctx, 200*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// ComponentSource is a wechat.TokenSource for a platform's component token.
func (k *Keeper) ComponentSource(componentAppID string) wechat.TokenSource {
	return &source{get: func(ctx context.Context) (string, error) { return k.ComponentToken(ctx, componentAppID) },
		refresh: func(ctx context.Context, stale string) error {
			_, err := k.RefreshComponent(ctx, componentAppID, stale, 0)
			return err
		}}
}

// AuthorizerSource is a wechat.TokenSource for one authorizer's token.
func (k *Keeper) AuthorizerSource(componentAppID, appID string) wechat.TokenSource {
	return &source{get: func(ctx context.Context) (string, error) { return k.AuthorizerToken(ctx, componentAppID, appID) },
		refresh: func(ctx context.Context, stale string) error {
			_, err := k.RefreshAuthorizer(ctx, componentAppID, appID, stale, 0)
			return err
		}}
}

type source struct {
	get     func(context.Context) (string, error)
	refresh func(context.Context, string) error
}

func (s *source) Token(ctx context.Context) (string, error) { return s.get(ctx) }

// Invalidate re-reads the store first (inside refresh): if another instance
// already replaced the rejected token, no call to WeChat is made.
func (s *source) Invalidate(ctx context.Context, stale string) error { return s.refresh(ctx, stale) }
