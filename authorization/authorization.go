// Package authorization runs the authorization flow (授权流程) by which a
// merchant hands a mini program to a platform: a fresh pre_auth_code per link,
// the PC and H5 pages on WeChat's side, and the two ways WeChat reports the
// result — the browser coming back to our callback with an auth_code, and the
// `authorized` / `updateauthorized` push. Either may arrive first, or only one
// of them; both end in the same authorized state, and the authorization code
// is exchanged with WeChat once.
package authorization

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net/url"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/queue"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/webhook"
	"github.com/wxfleet/wxfleet/wechat"
)

// Store is what the flow reads and writes.
type Store interface {
	Platform(ctx context.Context, appID string) (*wxfleet.Platform, error)
	CreateAuthLink(ctx context.Context, l *wxfleet.AuthLink) error
	AuthLink(ctx context.Context, componentAppID, id string) (*wxfleet.AuthLink, error)
	AuthLinkByPreAuthDigest(ctx context.Context, componentAppID, digest string) (*wxfleet.AuthLink, error)
	MarkAuthLinkUsed(ctx context.Context, componentAppID, id, authorizerAppID string) error
	AuthLinkPreAuthCode(ctx context.Context, componentAppID, id string) (wxfleet.Secret, error)
	RenewAuthLink(ctx context.Context, l *wxfleet.AuthLink) error
	ClaimAuthLink(ctx context.Context, componentAppID, id string, now time.Time) error
	Authorizer(ctx context.Context, componentAppID, appID string) (*wxfleet.Authorizer, error)
	UpsertAuthorizer(ctx context.Context, a *wxfleet.Authorizer) error
	UpsertAuthorizerThen(ctx context.Context, a *wxfleet.Authorizer, then store.Then) error
	SetAuthorizerStatus(ctx context.Context, componentAppID, appID string, status wxfleet.AuthorizerStatus, now time.Time) error
	SetAuthorizerStatusThen(ctx context.Context, componentAppID, appID string, status wxfleet.AuthorizerStatus, now time.Time, then store.Then) error
	RecordCodeExchange(ctx context.Context, componentAppID, code, authorizerAppID string, at time.Time) error
	ExchangedCode(ctx context.Context, componentAppID, code string) (string, error)
	PruneCodeExchanges(ctx context.Context, before time.Time) (int64, error)
}

// Auth types (auth_type) WeChat's pages take.
const (
	AuthTypeOfficialAccount = 1
	AuthTypeMiniProgram     = 2
	AuthTypeBoth            = 3
)

// Service runs the flow.
type Service struct {
	Store     Store
	WeChat    *wechat.Client
	Keeper    *token.Keeper
	Queue     func() queue.Queue
	PublicURL string // the platform's base URL: redirect_uri points back here
	AuthType  int    // default auth_type of new links; 0 → mini programs only
	Now       func() time.Time
	Logger    *slog.Logger
	// OnAuthorized, when set, runs inside the transaction that saves an
	// app's authorization (rollouts enqueue the job applying the template
	// policy: domains, privacy), so a crash cannot keep the one without the
	// other: a retry of the push or callback would find the authorization
	// done and not call it again. Its error rolls the authorization back
	// (the push job retries; the callback says so).
	OnAuthorized func(ctx context.Context, tx *sql.Tx, componentAppID, appID string) error
	// Events sends authorizer.authorized, .updated and .unauthorized out
	// (webhooks), each in the transaction of the change; nil sends nothing.
	Events webhook.Emitter
}

// LinkRequest asks for an authorization link.
type LinkRequest struct {
	Merchant string `json:"merchant"`  // your reference for the merchant the link is for
	AuthType int    `json:"auth_type"` // 1 official accounts, 2 mini programs, 3 both
	BizAppID string `json:"biz_appid"` // restrict to this one account
	// ExpiresIn is how long the link's entry page (URL) stays usable, in
	// seconds; 0 → DefaultLinkLife, at most MaxLinkLife.
	ExpiresIn int `json:"expires_in"`
	// TenantID is the tenant the authorized mini program lands on (0:
	// none). Set by the tenant's own route, never from a request body.
	TenantID int64 `json:"-"`
}

// Link lifetimes: the operator's link (its entry page) outlives many
// pre_auth_codes, which WeChat makes for 10 to 30 minutes.
const (
	DefaultLinkLife = 7 * 24 * time.Hour
	MaxLinkLife     = 30 * 24 * time.Hour
)

// Link is an authorization link ready to hand to a merchant. URL is its entry
// page on this platform, usable until ExpiresAt and once: hand this one out.
// PCURL and H5URL go to WeChat's pages directly and work only while the
// pre_auth_code lives (CodeExpiresAt).
type Link struct {
	ID            string    `json:"id"`
	URL           string    `json:"url"`
	PCURL         string    `json:"pc_url"`
	H5URL         string    `json:"h5_url"`
	Merchant      string    `json:"merchant,omitempty"`
	TenantID      int64     `json:"tenant_id,omitempty"`
	ExpiresAt     time.Time `json:"expires_at"`
	CodeExpiresAt time.Time `json:"code_expires_at"`
}

// CreateLink makes an operator's authorization link (the API's): the only
// way, besides the ISV's own systems through this API, that a merchant gets
// attached to an authorization. The redirect_uri carries the link id and a
// state only the link's holder knows; the callback claims the link once.
func (s *Service) CreateLink(ctx context.Context, componentAppID string, req LinkRequest) (*Link, error) {
	if req.AuthType == 0 {
		req.AuthType = s.AuthType
	}
	if req.AuthType == 0 {
		req.AuthType = AuthTypeMiniProgram
	}
	if req.AuthType < 1 || req.AuthType > 3 {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "auth_type 只能是 1、2 或 3 / auth_type must be 1, 2 or 3")
	}
	if len(req.Merchant) > 128 {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "merchant 最长 128 个字符 / merchant is at most 128 characters")
	}
	life := time.Duration(req.ExpiresIn) * time.Second
	if life == 0 {
		life = DefaultLinkLife
	}
	if life < time.Minute || life > MaxLinkLife {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "expires_in 须在 60 秒到 30 天之间 / expires_in must be from 60 seconds to 30 days")
	}
	if _, err := s.Store.Platform(ctx, componentAppID); err != nil {
		return nil, err
	}
	code, err := s.preAuthCode(ctx, componentAppID)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	state := newState()
	l := &wxfleet.AuthLink{
		ID: newID(), ComponentAppID: componentAppID, PreAuthCode: code.Code, Merchant: req.Merchant, TenantID: req.TenantID, AuthType: req.AuthType,
		CreatedAt: now, ExpiresAt: now.Add(life), CodeExpiresAt: now.Add(time.Duration(code.ExpiresIn) * time.Second),
		StateDigest: stateDigest(state),
	}
	if err := s.Store.CreateAuthLink(ctx, l); err != nil {
		return nil, err
	}
	pc, h5 := s.authURLs(l, code.Code, state, req.BizAppID)
	return &Link{
		ID: l.ID, URL: s.PublicURL + "/authorize?" + url.Values{"platform": {componentAppID}, "link": {l.ID}}.Encode(),
		PCURL: pc, H5URL: h5, Merchant: req.Merchant, TenantID: req.TenantID, ExpiresAt: l.ExpiresAt, CodeExpiresAt: l.CodeExpiresAt,
	}, nil
}

func (s *Service) preAuthCode(ctx context.Context, componentAppID string) (*wechat.PreAuthCode, error) {
	code, err := s.WeChat.CreatePreAuthCode(ctx, s.Keeper.ComponentSource(componentAppID), componentAppID)
	if err != nil {
		return nil, wxfleet.WrapError(wxfleet.EUNAVAILABLE, "向微信申请预授权码失败 / WeChat did not give a pre_auth_code", err)
	}
	return code, nil
}

// authURLs are WeChat's PC and H5 pages for l, coming back to the callback
// with the link id and its state.
func (s *Service) authURLs(l *wxfleet.AuthLink, code, state, bizAppID string) (pc, h5 string) {
	redirect := s.PublicURL + "/authorize/callback?" + url.Values{"c": {l.ComponentAppID}, "link": {l.ID}, "state": {state}}.Encode()
	return s.WeChat.PCAuthURL(l.ComponentAppID, code, redirect, l.AuthType, bizAppID),
		s.WeChat.H5AuthURL(l.ComponentAppID, code, redirect, l.AuthType, bizAppID)
}

// LinkUsable says why the link can start no authorization any more (used,
// expired), or nil.
func LinkUsable(l *wxfleet.AuthLink, now time.Time) error { return linkState(l, now) }

// linkState refuses a link that cannot start or finish an authorization any more.
func linkState(l *wxfleet.AuthLink, now time.Time) error {
	if l.Used() {
		return wxfleet.Errorf(wxfleet.ECONFLICT, "该授权链接已经使用过，未作任何更改；请向服务商索取新的链接 / this authorization link was already used; nothing was changed. Ask for a new link")
	}
	if !now.Before(l.ExpiresAt) {
		return wxfleet.Errorf(wxfleet.ECONFLICT, "该授权链接已过期，未作任何更改；请向服务商索取新的链接 / this authorization link has expired; nothing was changed. Ask for a new link")
	}
	return nil
}

// PageStart is what a click on the public page gets: where to send the
// browser, and the link id and state its cookie must keep for the callback.
type PageStart struct {
	LinkID, State string
	PCURL, H5URL  string
	CodeExpiresAt time.Time
}

// codeMargin is how much life a pre_auth_code must have left to be reused:
// enough to scan and confirm.
const codeMargin = 2 * time.Minute

// StartFromPage begins an authorization from the public page. linkID is the
// operator's link the page was opened with ("" for none: no merchant is
// attached — a visitor can never name one). prevLink and prevState come from
// the browser's cookie: when they name this browser's unused link whose
// pre_auth_code still lives, that code is reused instead of asking WeChat for
// another. The result is bound to this browser: the callback must bring the
// state in its cookie as well as in its URL.
func (s *Service) StartFromPage(ctx context.Context, componentAppID, linkID, prevLink, prevState string) (*PageStart, error) {
	now := s.Now()
	var l *wxfleet.AuthLink
	if want := linkID; want != "" || prevLink != "" {
		if want == "" {
			want = prevLink
		}
		got, err := s.Store.AuthLink(ctx, componentAppID, want)
		switch {
		case err == nil:
			l = got
		case wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND && linkID == "":
			// a stale cookie: start afresh
		case wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND:
			return nil, wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个授权链接 / no such authorization link")
		default:
			return nil, err
		}
		if l != nil && linkID == "" && (!l.BrowserBound || l.Merchant != "" || l.Used()) {
			l = nil // the cookie's link is not an anonymous one of this browser's
		}
	}
	if l != nil {
		if err := linkState(l, now); err != nil {
			return nil, err
		}
		if prevLink == l.ID && l.BrowserBound && stateDigest(prevState) == l.StateDigest && l.CodeExpiresAt.Sub(now) > codeMargin {
			code, err := s.Store.AuthLinkPreAuthCode(ctx, componentAppID, l.ID)
			if err == nil && code != "" {
				return s.pageStart(l, code.Reveal(), prevState), nil
			}
		}
		code, err := s.preAuthCode(ctx, componentAppID)
		if err != nil {
			return nil, err
		}
		state := newState()
		l.PreAuthCode, l.CodeExpiresAt = code.Code, now.Add(time.Duration(code.ExpiresIn)*time.Second)
		l.StateDigest, l.BrowserBound = stateDigest(state), true
		if err := s.Store.RenewAuthLink(ctx, l); err != nil {
			return nil, err
		}
		return s.pageStart(l, code.Code, state), nil
	}
	if _, err := s.Store.Platform(ctx, componentAppID); err != nil {
		return nil, err
	}
	code, err := s.preAuthCode(ctx, componentAppID)
	if err != nil {
		return nil, err
	}
	state := newState()
	codeEnd := now.Add(time.Duration(code.ExpiresIn) * time.Second)
	authType := s.AuthType
	if authType == 0 {
		authType = AuthTypeMiniProgram
	}
	l = &wxfleet.AuthLink{ID: newID(), ComponentAppID: componentAppID, PreAuthCode: code.Code, AuthType: authType,
		CreatedAt: now, ExpiresAt: codeEnd, CodeExpiresAt: codeEnd, StateDigest: stateDigest(state), BrowserBound: true}
	if err := s.Store.CreateAuthLink(ctx, l); err != nil {
		return nil, err
	}
	return s.pageStart(l, code.Code, state), nil
}

func (s *Service) pageStart(l *wxfleet.AuthLink, code, state string) *PageStart {
	pc, h5 := s.authURLs(l, code, state, "")
	return &PageStart{LinkID: l.ID, State: state, PCURL: pc, H5URL: h5, CodeExpiresAt: l.CodeExpiresAt}
}

// Callback completes the authorization the browser came back with. Its state
// is checked before anything else, WeChat included: it must be the link's,
// come (for a link started on the page) from the browser that started it
// (cookieState), and the link is claimed once. When the push got there
// first, the callback shows what it did, without a WeChat call.
func (s *Service) Callback(ctx context.Context, componentAppID, linkID, state, cookieState, authCode string) (*wxfleet.Authorizer, error) {
	if authCode == "" {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "回调缺少 auth_code，授权可能已被取消 / the callback has no auth_code: the authorization may have been cancelled")
	}
	refused := wxfleet.Errorf(wxfleet.EFORBIDDEN, "授权回调无效：请在发起授权的浏览器中从授权页重新开始 / this authorization callback is not valid here: start again from the authorization page, in the same browser")
	if linkID == "" || state == "" {
		return nil, refused
	}
	l, err := s.Store.AuthLink(ctx, componentAppID, linkID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return nil, refused
	}
	if err != nil {
		return nil, err
	}
	if l.StateDigest == "" || subtle.ConstantTimeCompare([]byte(stateDigest(state)), []byte(l.StateDigest)) != 1 ||
		(l.BrowserBound && subtle.ConstantTimeCompare([]byte(cookieState), []byte(state)) != 1) {
		return nil, refused
	}
	if l.AuthorizerAppID != "" && l.ClaimedAt.IsZero() {
		return s.Store.Authorizer(ctx, componentAppID, l.AuthorizerAppID) // the push completed it
	}
	now := s.Now()
	if l.Used() {
		return nil, linkState(l, now)
	}
	// The pre_auth_code's end, not the link's: the code was what WeChat took.
	if now.After(l.CodeExpiresAt.Add(exchangeGrace)) {
		return nil, linkState(&wxfleet.AuthLink{ExpiresAt: l.CodeExpiresAt}, now)
	}
	if err := s.Store.ClaimAuthLink(ctx, componentAppID, l.ID, now); err != nil {
		if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
			return nil, err
		}
		// The push may have completed this very authorization between the
		// read above and the claim: then the browser was right to come back.
		if again, rerr := s.Store.AuthLink(ctx, componentAppID, linkID); rerr == nil && again.AuthorizerAppID != "" && again.ClaimedAt.IsZero() {
			return s.Store.Authorizer(ctx, componentAppID, again.AuthorizerAppID)
		}
		return nil, linkState(&wxfleet.AuthLink{AuthorizerAppID: "-"}, now)
	}
	return s.complete(ctx, componentAppID, authCode, l, time.Time{})
}

// exchangeGrace is how long after its pre_auth_code expired a callback is
// still taken: the merchant confirmed in time and came back a little later.
const exchangeGrace = time.Hour

// HandlePush completes the authorization an `authorized` or `updateauthorized`
// push announced. preAuthDigest is the digest (store.PreAuthDigest) of the
// push's PreAuthCode: the code itself is kept out of events and jobs.
// createTime is the push's CreateTime: if the browser callback already
// completed an authorization at or after it, nothing is left to do.
func (s *Service) HandlePush(ctx context.Context, componentAppID, authorizerAppID, authCode, preAuthDigest string, createTime time.Time) (*wxfleet.Authorizer, error) {
	var link *wxfleet.AuthLink
	if preAuthDigest != "" {
		l, err := s.Store.AuthLinkByPreAuthDigest(ctx, componentAppID, preAuthDigest)
		if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
			return nil, err
		}
		link = l
	}
	if a, err := s.Store.Authorizer(ctx, componentAppID, authorizerAppID); err == nil && doneAlready(a, link, createTime) {
		return s.attribute(ctx, a, link, createTime)
	}
	a, err := s.complete(ctx, componentAppID, authCode, link, createTime)
	if err != nil {
		return nil, err
	}
	return s.attribute(ctx, a, link, createTime)
}

// staleAfter is how much older than the authorization in force a push may be
// and still speak for it: the callback completes seconds after WeChat makes
// the push; a push older than this announced an earlier authorization.
const staleAfter = 10 * time.Minute

// attribute makes the authorizer's merchant (and tenant) the one of the link the
// authorized push names (by its PreAuthCode), when the browser's callback
// said otherwise: the push comes signed from WeChat, the callback's URL from
// a browser. A push for an earlier authorization changes nothing.
func (s *Service) attribute(ctx context.Context, a *wxfleet.Authorizer, link *wxfleet.AuthLink, pushTime time.Time) (*wxfleet.Authorizer, error) {
	if link == nil || !linkDiffers(link, a) || a.Status != wxfleet.StatusAuthorized {
		return a, nil
	}
	if pushTime.IsZero() || a.AuthorizedAt.Sub(pushTime) > staleAfter {
		return a, nil
	}
	err := s.Keeper.Leases().Do(ctx, token.AuthorizerLease(a.ComponentAppID, a.AppID), func(ctx context.Context) error {
		cur, err := s.Store.Authorizer(ctx, a.ComponentAppID, a.AppID)
		if err != nil {
			return err
		}
		s.Logger.Warn("the authorized push names another merchant or tenant than the callback did: following the push",
			"component_appid", a.ComponentAppID, "appid", a.AppID, "callback_merchant", cur.Merchant, "push_merchant", link.Merchant,
			"callback_tenant", cur.TenantID, "push_tenant", link.TenantID, "link", link.ID)
		applyLink(cur, link)
		if err := s.Store.UpsertAuthorizer(ctx, cur); err != nil {
			return err
		}
		a = cur
		if err := s.Store.MarkAuthLinkUsed(ctx, a.ComponentAppID, link.ID, a.AppID); err != nil {
			s.Logger.Warn("marking the push's authorization link used failed", "link", link.ID, "err", err)
		}
		return nil
	})
	return a, err
}

// linkDiffers tells whether the link would give a another merchant or tenant.
func linkDiffers(l *wxfleet.AuthLink, a *wxfleet.Authorizer) bool {
	return (l.Merchant != "" && l.Merchant != a.Merchant) || (l.TenantID != 0 && l.TenantID != a.TenantID)
}

// applyLink gives a the merchant and tenant its link was made for (where
// the link names them).
func applyLink(a *wxfleet.Authorizer, l *wxfleet.AuthLink) {
	if l.Merchant != "" {
		a.Merchant = l.Merchant
	}
	if l.TenantID != 0 {
		a.TenantID = l.TenantID
	}
}

// doneAlready tells whether the authorization a push announced was completed
// by the browser callback: its link was used for this authorizer, or the
// authorizer was authorized after the second the push was made in (CreateTime
// has whole seconds).
func doneAlready(a *wxfleet.Authorizer, link *wxfleet.AuthLink, pushTime time.Time) bool {
	if a == nil || a.Status != wxfleet.StatusAuthorized {
		return false
	}
	if link != nil && link.AuthorizerAppID == a.AppID {
		return true
	}
	return !pushTime.IsZero() && !a.AuthorizedAt.Before(pushTime.Add(time.Second))
}

// exchangesKept is how long an exchanged code is remembered: codes live an
// hour, and a push may be retried a little after.
const exchangesKept = 24 * time.Hour

// CodeLease names the lease under which one authorization code is exchanged.
// It carries the code's SHA-256 digest, never the code.
func CodeLease(componentAppID, authCode string) string {
	sum := sha256.Sum256([]byte(authCode))
	return "auth_code:" + componentAppID + ":" + hex.EncodeToString(sum[:])
}

// complete exchanges the code once, whichever of the push and the browser
// callback comes first: under a lease named after the code, the second finds
// the code recorded as exchanged and gets the authorizer the first stored,
// without calling WeChat (docs/wechat-tokens.md). The authorizer is written
// holding the same lease as token refreshes, so the two never interleave
// their writes.
func (s *Service) complete(ctx context.Context, componentAppID, authCode string, link *wxfleet.AuthLink, pushTime time.Time) (*wxfleet.Authorizer, error) {
	var a *wxfleet.Authorizer
	err := s.Keeper.Leases().Do(ctx, CodeLease(componentAppID, authCode), func(ctx context.Context) error {
		appID, err := s.Store.ExchangedCode(ctx, componentAppID, authCode)
		switch wxfleet.ErrorCode(err) {
		case "":
			a, err = s.adopt(ctx, componentAppID, appID, link)
			return err
		case wxfleet.ENOTFOUND:
		default:
			return err
		}
		info, err := s.WeChat.QueryAuth(ctx, s.Keeper.ComponentSource(componentAppID), componentAppID, authCode)
		if err != nil {
			return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "用授权码换取授权信息失败 / exchanging the authorization code failed", err)
		}
		appID = info.AuthorizerAppID
		err = s.Keeper.Leases().Do(ctx, token.AuthorizerLease(componentAppID, appID), func(ctx context.Context) error {
			var err error
			a, err = s.save(ctx, componentAppID, appID, info, link, pushTime)
			return err
		})
		if err != nil {
			return err
		}
		s.recordExchange(ctx, componentAppID, authCode, appID)
		return nil
	})
	return a, err
}

// recordExchange remembers that authCode was exchanged and forgets codes
// exchanged long ago. A failure only costs the other path a second exchange.
func (s *Service) recordExchange(ctx context.Context, componentAppID, authCode, appID string) {
	now := s.Now()
	if err := s.Store.RecordCodeExchange(ctx, componentAppID, authCode, appID, now); err != nil {
		s.Logger.Warn("recording an exchanged authorization code failed", "component_appid", componentAppID, "appid", appID, "err", err)
	}
	if _, err := s.Store.PruneCodeExchanges(ctx, now.Add(-exchangesKept)); err != nil {
		s.Logger.Warn("pruning exchanged authorization codes failed", "err", err)
	}
}

// adopt returns the authorizer the other path stored for this code. If only
// this path knows the authorization link, the link is marked used and its
// merchant set, as the exchange would have done.
func (s *Service) adopt(ctx context.Context, componentAppID, appID string, link *wxfleet.AuthLink) (*wxfleet.Authorizer, error) {
	if link == nil {
		return s.Store.Authorizer(ctx, componentAppID, appID)
	}
	var a *wxfleet.Authorizer
	err := s.Keeper.Leases().Do(ctx, token.AuthorizerLease(componentAppID, appID), func(ctx context.Context) error {
		var err error
		if a, err = s.Store.Authorizer(ctx, componentAppID, appID); err != nil {
			return err
		}
		if l, err := s.Store.AuthLink(ctx, componentAppID, link.ID); err != nil || l.AuthorizerAppID == appID {
			return nil // the other path had the link too
		}
		if (a.Merchant == "" && link.Merchant != "") || (link.TenantID != 0 && a.TenantID != link.TenantID) {
			if a.Merchant == "" {
				a.Merchant = link.Merchant
			}
			if link.TenantID != 0 {
				a.TenantID = link.TenantID
			}
			if err := s.Store.UpsertAuthorizer(ctx, a); err != nil {
				return err
			}
		}
		return s.Store.MarkAuthLinkUsed(ctx, componentAppID, link.ID, appID)
	})
	return a, err
}

// save saves the authorizer info describes, unless the other path (push or
// callback) already did. The caller holds the authorizer's lease.
func (s *Service) save(ctx context.Context, componentAppID, appID string, info *wechat.AuthorizationInfo, link *wxfleet.AuthLink, pushTime time.Time) (*wxfleet.Authorizer, error) {
	if link != nil { // re-read under the lease: the other path may have used it
		if l, err := s.Store.AuthLink(ctx, componentAppID, link.ID); err == nil {
			link = l
		}
	}
	prev, err := s.Store.Authorizer(ctx, componentAppID, appID)
	if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		return nil, err
	}
	// The other path may have finished while we waited for the lease.
	if doneAlready(prev, link, pushTime) {
		return prev, nil
	}
	now := s.Now()
	a := &wxfleet.Authorizer{ComponentAppID: componentAppID, AppID: appID}
	if prev != nil {
		*a = *prev
	}
	a.Status = wxfleet.StatusAuthorized
	a.Permissions = info.Permissions()
	a.AuthorizedAt = now
	a.UpdatedAt = now
	if info.AccessToken != "" {
		a.AccessToken = wxfleet.Secret(info.AccessToken)
		a.TokenExpiresAt = now.Add(time.Duration(info.ExpiresIn) * time.Second)
	}
	if info.RefreshToken != "" {
		a.RefreshToken = wxfleet.Secret(info.RefreshToken)
	}
	if link != nil {
		applyLink(a, link)
	}
	// Save the tokens before anything else can fail: they are what matters.
	// The event and the on-authorization job go out with them: a retry of
	// this path finds the authorization done (doneAlready) and would not
	// send or enqueue them again.
	typ := webhook.AuthorizerAuthorized
	if prev != nil && prev.Status == wxfleet.StatusAuthorized {
		typ = webhook.AuthorizerUpdated
	}
	emit, then := s.emit(typ, a, pushTime), store.Then(nil)
	if emit != nil || s.OnAuthorized != nil {
		then = func(ctx context.Context, tx *sql.Tx) error {
			if emit != nil {
				if err := emit(ctx, tx); err != nil {
					return err
				}
			}
			if s.OnAuthorized != nil {
				return s.OnAuthorized(ctx, tx, componentAppID, appID)
			}
			return nil
		}
	}
	if err := s.Store.UpsertAuthorizerThen(ctx, a, then); err != nil {
		return nil, err
	}
	if details, err := s.WeChat.GetAuthorizerInfo(ctx, s.Keeper.ComponentSource(componentAppID), componentAppID, appID); err != nil {
		s.Logger.Warn("api_get_authorizer_info failed; the authorizer is saved without its profile", "component_appid", componentAppID, "appid", appID, "err", err)
	} else {
		ai := details.AuthorizerInfo
		a.Nickname, a.HeadImg, a.UserName = ai.NickName, ai.HeadImg, ai.UserName
		a.PrincipalName, a.Signature = ai.PrincipalName, ai.Signature
		a.IsMiniProgram = details.IsMiniProgram()
		a.Info = details.Raw
		if err := s.Store.UpsertAuthorizer(ctx, a); err != nil {
			return nil, err
		}
	}
	if link != nil {
		if err := s.Store.MarkAuthLinkUsed(ctx, componentAppID, link.ID, appID); err != nil {
			s.Logger.Warn("marking the authorization link used failed", "link", link.ID, "err", err)
		}
	}
	s.Logger.Info("authorizer authorized", "component_appid", componentAppID, "appid", appID,
		"merchant", a.Merchant, "permissions", a.Permissions, "via_push", !pushTime.IsZero())
	return a, nil
}

// Revoke handles an `unauthorized` push made at createTime (its CreateTime;
// zero if unknown): the merchant cancelled the authorization. The authorizer
// is kept (its history matters) but marked revoked, and its pending jobs are
// cancelled.
//
// Authorization events of one app are applied in the order WeChat made them,
// not the order they arrive: an `unauthorized` older than the authorization
// in force (a replay, or WeChat's late retry after the merchant authorized
// again) is ignored. CreateTime has whole seconds, so an authorization in the
// same second as the push does not count as newer.
func (s *Service) Revoke(ctx context.Context, componentAppID, appID string, createTime time.Time) error {
	if a, err := s.Store.Authorizer(ctx, componentAppID, appID); err == nil && !createTime.IsZero() &&
		a.Status == wxfleet.StatusAuthorized && a.AuthorizedAt.Truncate(time.Second).After(createTime) {
		s.Logger.Warn("unauthorized push older than the authorization in force: ignored", "component_appid", componentAppID,
			"appid", appID, "push_create_time", createTime, "authorized_at", a.AuthorizedAt)
		return nil
	}
	now := s.Now()
	var emit store.Then
	if s.Events != nil {
		// WeChat's retries of this push (same CreateTime) make one event.
		id := ""
		if !createTime.IsZero() {
			id = webhook.EventID(webhook.AuthorizerUnauthorized, componentAppID, appID, createTime.UTC().Format(time.RFC3339))
		}
		emit = func(ctx context.Context, tx *sql.Tx) error {
			return s.Events.Emit(ctx, tx, webhook.Event{ID: id, Type: webhook.AuthorizerUnauthorized, ComponentAppID: componentAppID,
				AppID: appID, Data: AuthorizerData{AppID: appID, ComponentAppID: componentAppID, Status: string(wxfleet.StatusRevoked),
					UnauthorizedAt: timePtr(now)}})
		}
	}
	err := s.Store.SetAuthorizerStatusThen(ctx, componentAppID, appID, wxfleet.StatusRevoked, now, emit)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		s.Logger.Info("unauthorized push for an unknown authorizer", "component_appid", componentAppID, "appid", appID)
		return nil
	}
	if err != nil {
		return err
	}
	n, err := s.Queue().CancelTagged(ctx, token.AppTag(appID))
	if err != nil {
		return err
	}
	s.Logger.Info("authorizer revoked", "component_appid", componentAppID, "appid", appID, "cancelled_jobs", n)
	return nil
}

// AuthorizerData is the data of the authorizer.* events.
type AuthorizerData struct {
	AppID          string     `json:"appid"`
	ComponentAppID string     `json:"component_appid"`
	Status         string     `json:"status"`
	Merchant       string     `json:"merchant,omitempty"`
	Permissions    []int      `json:"permissions,omitempty"`
	AuthorizedAt   *time.Time `json:"authorized_at,omitempty"`
	UnauthorizedAt *time.Time `json:"unauthorized_at,omitempty"`
	ViaPush        bool       `json:"via_push"` // the push completed it (not the browser's callback)
}

// emit returns the Then that sends an authorizer event about a, or nil
// when no emitter is wired.
func (s *Service) emit(typ string, a *wxfleet.Authorizer, pushTime time.Time) store.Then {
	if s.Events == nil {
		return nil
	}
	ev := webhook.Event{Type: typ, ComponentAppID: a.ComponentAppID, AppID: a.AppID, Data: AuthorizerData{
		AppID: a.AppID, ComponentAppID: a.ComponentAppID, Status: string(a.Status), Merchant: a.Merchant,
		Permissions: a.Permissions, AuthorizedAt: timePtr(a.AuthorizedAt), ViaPush: !pushTime.IsZero(),
	}}
	return func(ctx context.Context, tx *sql.Tx) error { return s.Events.Emit(ctx, tx, ev) }
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// newState is a callback state: 128 random bits.
func newState() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func stateDigest(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
