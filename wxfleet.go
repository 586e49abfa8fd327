// Package wxfleet holds the domain of the wxfleet platform in plain types:
// third-party platforms (第三方平台), the mini programs that authorized them
// (授权方), the pushes WeChat sends, and the coded errors every layer speaks.
// It imports nothing of the project; every other package imports it.
package wxfleet

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Error codes. The HTTP layer maps each to a status in one table.
const (
	EINVALID      = "invalid"      // the request is malformed or a value is out of range
	ENOTFOUND     = "not_found"    // the named thing does not exist (for this platform)
	ECONFLICT     = "conflict"     // the thing exists already or is in the wrong state
	EUNAUTHORIZED = "unauthorized" // no or wrong credentials
	EFORBIDDEN    = "forbidden"    // credentials fine, action not allowed
	EUNAVAILABLE  = "unavailable"  // a dependency (WeChat, the database) cannot serve now
	ETOOLARGE     = "too_large"    // the request body is over the route's cap
	ETOOMANY      = "too_many"     // the client is sending too many requests; wait
	EINTERNAL     = "internal"     // a bug or an unexpected failure
	// ESUBSCRIPTIONEXPIRED: the tenant's subscription has run out; the runtime
	// API answers it so that the mini program can say so (HTTP 402).
	ESUBSCRIPTIONEXPIRED = "subscription_expired"
)

// Error is the coded error of the domain. Message is a sentence a user can act
// on (Chinese first, English beside); the wrapped Err carries the detail for logs.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a coded error with a formatted user-facing message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns a coded error that keeps err as its cause.
func WrapError(code, message string, err error) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the *Error's message,
// or a generic sentence for anything else (details stay in the logs).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "内部错误，请查看服务日志 / internal error, see the server log"
}

// Secret is a string that must never be printed: it redacts itself in logs,
// fmt verbs and JSON.
type Secret string

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.Redacted()) }

// String implements fmt.Stringer with the redacted form.
func (s Secret) String() string { return s.Redacted() }

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.Redacted() }

// MarshalJSON never sends the value anywhere.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.Redacted() + `"`), nil }

// Redacted tells whether the secret is set, and nothing else.
func (s Secret) Redacted() string {
	if s == "" {
		return ""
	}
	return "[REDACTED]"
}

// Reveal returns the plain value, for the few places that must send it to WeChat.
func (s Secret) Reveal() string { return string(s) }

// Platform is a third-party platform (第三方平台, "component") this installation
// runs. Several may share one installation (different legal entities).
type Platform struct {
	AppID  string // component_appid
	Name   string
	Token  Secret // 消息校验Token, signs pushes
	AESKey Secret // 消息加解密Key (EncodingAESKey, 43 chars)
	Secret Secret // component_appsecret
}

// Ticket is the latest component_verify_ticket of a platform. WeChat pushes one
// every 10 minutes; each is valid for 12 hours.
type Ticket struct {
	ComponentAppID string
	Value          Secret
	CreateTime     time.Time // CreateTime of the push that carried it
	ReceivedAt     time.Time
}

// TicketLifetime is how long WeChat accepts a component_verify_ticket.
const TicketLifetime = 12 * time.Hour

// ValidAt tells whether the ticket can still be used at now.
func (t *Ticket) ValidAt(now time.Time) bool {
	return t != nil && t.Value != "" && now.Before(t.CreateTime.Add(TicketLifetime))
}

// Token is an access token with its expiry: the component_access_token
// (令牌) of a platform or an authorizer_access_token (授权方令牌).
type Token struct {
	Value     Secret
	ExpiresAt time.Time
}

// AuthorizerStatus is where an authorizer stands with its platform. What
// each status allows is decided by its methods here, so no other package
// keeps a list of statuses of its own.
type AuthorizerStatus string

// Authorizer statuses.
const (
	StatusAuthorized            AuthorizerStatus = "authorized"
	StatusRevoked               AuthorizerStatus = "revoked"                // the merchant cancelled the authorization (unauthorized push, or 61003)
	StatusReauthorizationNeeded AuthorizerStatus = "reauthorization_needed" // WeChat rejected the refresh token (61023)
	StatusPending               AuthorizerStatus = "pending"                // seen in a push, not yet exchanged
)

// AuthorizerStatuses returns every status, in the order the console lists them.
func AuthorizerStatuses() []AuthorizerStatus {
	return []AuthorizerStatus{StatusAuthorized, StatusPending, StatusReauthorizationNeeded, StatusRevoked}
}

// ParseAuthorizerStatus reads a status named by a user (an API filter); an
// unknown name is an EINVALID error listing the known ones.
func ParseAuthorizerStatus(s string) (AuthorizerStatus, error) {
	st := AuthorizerStatus(s)
	if !st.Valid() {
		return "", Errorf(EINVALID, "未知的授权状态 %q（可选 %v）/ unknown authorizer status %q (one of %v)", s, AuthorizerStatuses(), s, AuthorizerStatuses())
	}
	return st, nil
}

// Valid tells whether s is one of the statuses above.
func (s AuthorizerStatus) Valid() bool {
	switch s {
	case StatusAuthorized, StatusRevoked, StatusReauthorizationNeeded, StatusPending:
		return true
	}
	return false
}

// Usable tells whether the authorizer's tokens may be handed out, refreshed
// and used to call WeChat on its behalf. Only an authorized authorizer's are:
// a revoked or rejected refresh token would get 61003/61023 back, and
// refreshing it again only spends the API's daily quota.
func (s AuthorizerStatus) Usable() bool { return s == StatusAuthorized }

// Label names the status for people, Chinese first with English beside.
func (s AuthorizerStatus) Label() string {
	switch s {
	case StatusAuthorized:
		return "已授权 authorized"
	case StatusRevoked:
		return "已取消授权 revoked"
	case StatusReauthorizationNeeded:
		return "需重新授权 re-authorization needed"
	case StatusPending:
		return "处理中 pending"
	}
	return "未知状态 unknown (" + string(s) + ")"
}

// Tone tells a console how to show the status: "ok" (usable), "warn" (on
// its way to usable) or "bad" (a merchant has to act).
func (s AuthorizerStatus) Tone() string {
	switch s {
	case StatusAuthorized:
		return "ok"
	case StatusPending:
		return "warn"
	}
	return "bad"
}

// Unusable returns nil when s is usable, and otherwise the ECONFLICT error
// that tells a caller asking for authorizer appID's token or API what the
// merchant has to do.
func (s AuthorizerStatus) Unusable(appID string) error {
	switch s {
	case StatusAuthorized:
		return nil
	case StatusReauthorizationNeeded:
		return Errorf(ECONFLICT, "小程序 %s 需要商家重新授权（refresh token 已失效）/ %s needs the merchant to authorize again (refresh token rejected)", appID, appID)
	case StatusRevoked:
		return Errorf(ECONFLICT, "小程序 %s 已取消授权，需要商家重新授权 / %s cancelled the authorization: the merchant must authorize again", appID, appID)
	case StatusPending:
		return Errorf(ECONFLICT, "小程序 %s 的授权尚未完成，请稍后再试 / the authorization of %s is not complete yet; try again shortly", appID, appID)
	}
	return Errorf(ECONFLICT, "小程序 %s 当前未授权（状态 %s）/ %s is not authorized (status %s)", appID, s, appID, s)
}

// Authorizer is a mini program (or official account) that authorized a
// platform: 授权方. Its refresh token (authorizer_refresh_token) is the one thing
// that must never be lost: without it the merchant has to authorize again.
type Authorizer struct {
	ComponentAppID string
	AppID          string // authorizer_appid
	Nickname       string
	HeadImg        string
	UserName       string // original id, gh_...
	PrincipalName  string // 主体名称
	Signature      string
	IsMiniProgram  bool
	Status         AuthorizerStatus
	Permissions    []int // func_info funcscope_category ids (权限集)
	AccessToken    Secret
	TokenExpiresAt time.Time
	RefreshToken   Secret
	Merchant       string // the merchant reference the authorization link was made for
	AuthorizedAt   time.Time
	UpdatedAt      time.Time
	Info           []byte // raw authorizer_info JSON from api_get_authorizer_info
}

// Event is one push WeChat sent and the platform accepted, stored before the
// push was acknowledged.
type Event struct {
	ID             int64
	ComponentAppID string
	AppID          string // authorizer appid; empty for platform-level pushes like tickets
	Type           string // InfoType for component pushes, MsgType or MsgType.Event for messages
	DedupKey       string // identifies WeChat's retries of the same push
	CreateTime     time.Time
	ReceivedAt     time.Time
	Payload        []byte // decrypted XML
}

// AuthLink is one authorization link (授权链接) handed to a merchant: a fresh
// pre_auth_code, and which merchant it was made for.
type AuthLink struct {
	ID              string
	ComponentAppID  string
	PreAuthCode     string // only on creation: the store keeps a digest and the code sealed, and reads back ""
	Merchant        string
	AuthType        int
	CreatedAt       time.Time
	ExpiresAt       time.Time // the link's own end; an operator's link outlives many pre_auth_codes
	CodeExpiresAt   time.Time // the pre_auth_code's end
	AuthorizerAppID string    // set once the link was used
	// StateDigest is the SHA-256 (hex) of the state the callback must bring back.
	StateDigest string
	// BrowserBound says the callback must also come from the browser that
	// started it (its cookie carries the state too).
	BrowserBound bool
	// ClaimedAt is when a callback claimed the link (zero: not yet); a link is claimed once.
	ClaimedAt time.Time
}

// Used reports whether the link completed an authorization or a callback claimed it.
func (l *AuthLink) Used() bool { return l.AuthorizerAppID != "" || !l.ClaimedAt.IsZero() }

// AuthorizerRef names an authorizer whose token falls due for refresh.
type AuthorizerRef struct {
	ComponentAppID string
	AppID          string
	TokenExpiresAt time.Time
}

// permissionNames are the permission sets (权限集, func_info ids) a merchant
// may grant; WeChat keeps adding ids, unknown ones are shown by number.
var permissionNames = map[int]string{
	1: "消息管理", 2: "用户管理", 3: "帐号服务", 4: "网页服务", 5: "微信小店", 6: "微信多客服",
	7: "群发与通知", 8: "微信卡券", 9: "微信扫一扫", 10: "微信连WIFI", 11: "素材管理", 12: "微信摇周边",
	13: "微信门店", 15: "自定义菜单", 17: "小程序帐号管理", 18: "小程序开发管理", 19: "小程序客服消息",
	24: "开放平台帐号管理", 25: "开放平台帐号管理", 30: "小程序基本信息设置", 31: "小程序认证",
	36: "小程序插件管理", 37: "附近的小程序", 40: "小程序直播", 41: "小程序搜索", 49: "小程序云开发",
}

// PermissionName names a permission set id, in Chinese as WeChat shows it.
func PermissionName(id int) string {
	if n, ok := permissionNames[id]; ok {
		return n
	}
	return fmt.Sprintf("权限集 %d", id)
}

// RuntimeSession is a mini-program user's session with the runtime API
// (/runtime/v1): made by a login with a wx.login code, named by a random
// token that only the mini program holds (the store keeps its digest). The
// session_key WeChat answered stays on the server, sealed at rest.
type RuntimeSession struct {
	TokenDigest    string // hex SHA-256 of the token
	ComponentAppID string
	AppID          string // the mini program (authorizer)
	OpenID         string // the user within that mini program
	UnionID        string // "" unless WeChat gave one
	SessionKey     Secret // set only where it is read on purpose (store.RuntimeSessionKey)
	CreatedAt      time.Time
	ExpiresAt      time.Time
}
