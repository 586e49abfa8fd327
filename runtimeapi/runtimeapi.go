// Package runtimeapi is what a merchant's mini program calls at run time
// (/runtime/v1, served by package web): it logs a WeChat user in with the
// code wx.login returned, through WeChat's component jscode2session
// (docs/wechat-runtime.md), and hands back wxfleet's own session token; the
// user's session_key never leaves the server. With that token the mini
// program reads its settings (what ext_json cannot carry, or what should
// change without a release).
//
// Tokens are 32 random bytes; the store keeps only their SHA-256 digest (an
// unkeyed digest is enough: nobody can search 256 bits for a preimage), and
// the session_key sealed by the vault, bound to its row.
package runtimeapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/wechat"
)

// DefaultSessionTTL is how long a session lives when Service.SessionTTL is 0.
const DefaultSessionTTL = 2 * time.Hour

// tokenPrefix marks wxfleet's runtime session tokens, so that a secret
// scanner (and a person reading a log) can tell what leaked.
const tokenPrefix = "wxrt_"

// Gate is consulted before a login and before every config read, with the
// platform and the mini program: a non-nil error refuses the call and is
// answered as it is (the tenants feature answers ESUBSCRIPTIONEXPIRED for
// an expired subscription). nil lets everything through.
type Gate func(ctx context.Context, componentAppID, appID string) error

// ConfigSource supplies the settings a mini program reads from
// GET /runtime/v1/config: a JSON object.
type ConfigSource interface {
	RuntimeConfig(ctx context.Context, componentAppID, appID string) (map[string]any, error)
}

// AuthorizerSettings is the default ConfigSource: the authorizer's settings,
// the same ones its ext_json is rendered with (PUT
// /api/v1/authorizers/{appid}/settings).
type AuthorizerSettings struct{ Store *store.Store }

// RuntimeConfig returns the authorizer's settings ({} when it has none).
func (a AuthorizerSettings) RuntimeConfig(ctx context.Context, componentAppID, appID string) (map[string]any, error) {
	return a.Store.AuthorizerSettings(ctx, componentAppID, appID)
}

// ComponentTokens gives the component_access_token of a platform; token.Keeper is one.
type ComponentTokens interface {
	ComponentSource(componentAppID string) wechat.TokenSource
}

// Service logs mini-program users in and reads their config. Build it once
// in main; the zero values of Settings, Gate, SessionTTL, Now and Logger mean
// their defaults.
type Service struct {
	Store  *store.Store
	WeChat *wechat.Client
	Tokens ComponentTokens
	// Settings supplies the config; nil → AuthorizerSettings{Store}.
	Settings ConfigSource
	// Gate refuses logins and config reads (e.g. an expired subscription); nil → none.
	Gate Gate
	// SessionTTL is a session's life; 0 → DefaultSessionTTL.
	SessionTTL time.Duration
	Now        func() time.Time
	Logger     *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) ttl() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (s *Service) gate(ctx context.Context, componentAppID, appID string) error {
	if s.Gate == nil {
		return nil
	}
	return s.Gate(ctx, componentAppID, appID)
}

// Login is a finished login: the token to hand the mini program, once.
type Login struct {
	Token     wxfleet.Secret
	ExpiresIn time.Duration
	Session   *wxfleet.RuntimeSession // without the session_key
}

// Login exchanges a wx.login code of mini program appID for a new session.
// componentAppID may be "" when appID is authorized to one platform only.
// The authorizer must be authorized and usable, and the gate must let it
// through, before the code is spent at WeChat.
func (s *Service) Login(ctx context.Context, componentAppID, appID, code string) (*Login, error) {
	appID, code = strings.TrimSpace(appID), strings.TrimSpace(code)
	switch {
	case appID == "":
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "缺少 appid / appid is required")
	case code == "":
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "缺少 code（wx.login 返回的登录凭证）/ code is required (what wx.login returned)")
	case len(code) > 256 || len(appID) > 64:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "appid 或 code 过长 / appid or code is too long")
	}
	a, err := s.authorizer(ctx, componentAppID, appID)
	if err != nil {
		return nil, err
	}
	if err := s.gate(ctx, a.ComponentAppID, a.AppID); err != nil {
		return nil, err
	}
	ws, err := s.WeChat.JSCode2Session(ctx, s.Tokens.ComponentSource(a.ComponentAppID), a.ComponentAppID, a.AppID, code)
	if err != nil {
		return nil, loginError(a.AppID, err)
	}
	token, digest := newToken()
	now := s.now()
	rs := &wxfleet.RuntimeSession{TokenDigest: digest, ComponentAppID: a.ComponentAppID, AppID: a.AppID,
		OpenID: ws.OpenID, UnionID: ws.UnionID, SessionKey: wxfleet.Secret(ws.SessionKey),
		CreatedAt: now, ExpiresAt: now.Add(s.ttl())}
	if err := s.Store.CreateRuntimeSession(ctx, rs); err != nil {
		return nil, err
	}
	rs.SessionKey = ""
	s.logger().InfoContext(ctx, "runtime login", "platform", a.ComponentAppID, "appid", a.AppID, "openid", ws.OpenID)
	return &Login{Token: token, ExpiresIn: s.ttl(), Session: rs}, nil
}

// authorizer finds appID's authorizer: under componentAppID when given,
// else the one platform it authorized that is usable. It must be usable.
func (s *Service) authorizer(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error) {
	platforms := []string{componentAppID}
	if componentAppID == "" {
		var err error
		if platforms, err = s.Store.AuthorizerPlatforms(ctx, appID); err != nil {
			return nil, err
		}
	}
	var found, usable []*wxfleet.Authorizer
	for _, p := range platforms {
		a, err := s.Store.Authorizer(ctx, p, appID)
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = append(found, a)
		if a.Status.Usable() {
			usable = append(usable, a)
		}
	}
	switch {
	case len(found) == 0:
		return nil, wxfleet.Errorf(wxfleet.ENOTFOUND, "小程序 %s 未授权给本平台 / mini program %s has not authorized this platform", appID, appID)
	case len(usable) == 1:
		return usable[0], nil
	case len(usable) > 1:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "小程序 %s 授权给了多个平台，请在请求中给出 component_appid / %s authorized several platforms: give component_appid", appID, appID)
	}
	return nil, notUsable(found[0])
}

// notUsable is the 403 for an authorizer that cannot be served: revoked,
// waiting for re-authorization or not complete.
func notUsable(a *wxfleet.Authorizer) error {
	err := a.Status.Unusable(a.AppID)
	return wxfleet.WrapError(wxfleet.EFORBIDDEN, wxfleet.ErrorMessage(err), err)
}

// loginError turns jscode2session's failure into what the mini program is told.
func loginError(appID string, err error) error {
	switch wechat.ErrorCode(err) {
	case wechat.CodeInvalidJSCode, wechat.CodeJSCodeUsed:
		return wxfleet.WrapError(wxfleet.EUNAUTHORIZED, "登录凭证 code 无效、已过期或已使用，请重新调用 wx.login / the login code is invalid, expired or used already: call wx.login again", err)
	case wechat.CodeNotAuthorized:
		return wxfleet.WrapError(wxfleet.EFORBIDDEN, "小程序 "+appID+" 已取消对本平台的授权 / mini program "+appID+" no longer authorizes this platform", err)
	case wechat.CodeLoginTooOften:
		return wxfleet.WrapError(wxfleet.ETOOMANY, "登录过于频繁，请稍后再试 / too many logins of this user: try again later", err)
	case wechat.CodeRiskyUser:
		return wxfleet.WrapError(wxfleet.EFORBIDDEN, "微信拒绝了该用户的登录 / WeChat refused this user's login", err)
	}
	return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "暂时无法向微信换取登录态，请稍后重试 / cannot reach WeChat for the login now: try again shortly", err)
}

// errSession is the 401 for a missing, unknown or expired token.
var errSession = wxfleet.Errorf(wxfleet.EUNAUTHORIZED, "会话无效或已过期，请重新登录（wx.login 后 POST /runtime/v1/login）/ the session is unknown or expired: log in again (wx.login, then POST /runtime/v1/login)")

// Session returns the live session a token names (without its session_key);
// EUNAUTHORIZED when there is none.
func (s *Service) Session(ctx context.Context, token string) (*wxfleet.RuntimeSession, error) {
	if !strings.HasPrefix(token, tokenPrefix) {
		return nil, errSession
	}
	rs, err := s.Store.RuntimeSession(ctx, digestOf(token), s.now())
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return nil, errSession
	}
	return rs, err
}

// Config returns the settings of the session's mini program, once the
// authorizer is still usable and the gate lets it through.
func (s *Service) Config(ctx context.Context, rs *wxfleet.RuntimeSession) (map[string]any, error) {
	a, err := s.Store.Authorizer(ctx, rs.ComponentAppID, rs.AppID)
	if err != nil {
		return nil, err
	}
	if !a.Status.Usable() {
		return nil, notUsable(a)
	}
	if err := s.gate(ctx, rs.ComponentAppID, rs.AppID); err != nil {
		return nil, err
	}
	src := s.Settings
	if src == nil {
		src = AuthorizerSettings{s.Store}
	}
	cfg, err := src.RuntimeConfig(ctx, rs.ComponentAppID, rs.AppID)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	return cfg, nil
}

// Logout ends the session a token names; an unknown token is no error.
func (s *Service) Logout(ctx context.Context, token string) error {
	if !strings.HasPrefix(token, tokenPrefix) {
		return nil
	}
	return s.Store.DeleteRuntimeSession(ctx, digestOf(token))
}

// newToken returns a fresh session token and its digest.
func newToken() (wxfleet.Secret, string) {
	b := make([]byte, 32)
	rand.Read(b)
	tok := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return wxfleet.Secret(tok), digestOf(tok)
}

// digestOf is what the store keeps of a token: hex SHA-256.
func digestOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
