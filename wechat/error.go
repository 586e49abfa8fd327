package wechat

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Errcodes the platform reacts to. The full lists live in /work/shared/wechat.
const (
	CodeSystemBusy          = -1    // 系统繁忙: retried by the client
	CodeInvalidCredential   = 40001 // access_token invalid or not latest (also: wrong secret)
	CodeInvalidToken        = 40014 // illegal access_token
	CodeTokenExpired        = 42001 // access_token expired
	CodeInvalidSecret       = 40125 // invalid appsecret
	CodeQuotaExceeded       = 45009 // daily API quota reached
	CodeIPNotWhitelisted    = 61004 // the caller's address is not on the platform's IP whitelist
	CodeOutOfResponseWindow = 45015 // customer-service message outside the 48 h window
	CodeAPIUnauthorized     = 48001 // the API is not authorised
	CodeNotAuthorized       = 61003 // the authorizer has not authorized (or revoked) the component
	CodeTicketExpired       = 61005 // component_verify_ticket expired
	CodeTicketInvalid       = 61006 // component_verify_ticket invalid
	CodeAPIUnauthorizedByMe = 61007 // the authorizer did not grant this permission set (权限集)
	CodeInvalidAuthCode     = 61009 // authorization code invalid
	CodeAuthCodeExpired     = 61010 // authorization code expired
	CodeRefreshTokenInvalid = 61023 // authorizer_refresh_token invalid: the merchant must authorize again

	// The request itself was wrong: see IsPlatformDefect.
	CodeTokenMissing          = 41001 // access_token missing
	CodeSecretMissing         = 41004 // appsecret missing
	CodeComponentAppIDMissing = 41018 // missing component_appid
	CodeEmptyBody             = 44002 // empty post data
	CodeDataFormat            = 47001 // data format error: the body is not the JSON the API takes
)

// IsPlatformDefect tells whether WeChat's errcode says the platform sent
// something wrong (a missing token, secret or component_appid, an empty or
// malformed body): a bug of the platform, which no retry and no refresh can
// fix. The client logs such answers as defects and never retries them.
func IsPlatformDefect(code int) bool {
	switch code {
	case CodeTokenMissing, CodeSecretMissing, CodeComponentAppIDMissing, CodeEmptyBody, CodeDataFormat:
		return true
	}
	return false
}

// ErrHTTPStatus is wrapped by the error a typed call returns when WeChat
// answered with an HTTP status other than 200 (WeChat itself answers 200 even
// for errors, so this means a proxy, a gateway or the sandbox failed).
var ErrHTTPStatus = errors.New("unexpected HTTP status")

// Error is an errcode WeChat answered with. Use errors.As to reach it.
type Error struct {
	Path    string // API path without query, e.g. /cgi-bin/component/api_query_auth
	Code    int    // errcode
	Message string // errmsg without the " rid: ..." suffix
	RID     string // request id WeChat appends to errmsg; quote it to WeChat support
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("wechat ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString("errcode ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RID != "" {
		b.WriteString(" (rid ")
		b.WriteString(e.RID)
		b.WriteString(")")
	}
	if a := advice[e.Code]; a != "" {
		b.WriteString(" — ")
		b.WriteString(a)
	}
	return b.String()
}

// advice says what an operator can do about errcodes that no retry fixes.
var advice = map[int]string{
	CodeIPNotWhitelisted: "本机出口 IP 不在第三方平台的白名单中，请在开放平台的开发配置里添加 / add this server's outgoing address to the platform's IP whitelist on the Open Platform",
	CodeQuotaExceeded:    "今日调用次数已达上限：北京时间零点恢复，或调用 clear_quota（每月 10 次）/ the daily quota is used up: it resets at midnight Beijing time, or call clear_quota (10 times a month)",
	CodeInvalidSecret:    "第三方平台的 appsecret 不对，请检查配置 / the platform's appsecret is wrong: check the configuration",
}

// IsTokenError tells whether err carries an errcode saying the access token
// was rejected: 40001 (invalid or not latest), 40014 (illegal) or 42001 (expired).
func IsTokenError(err error) bool {
	var e *Error
	return errors.As(err, &e) && isTokenCode(e.Code)
}

// ErrorCode returns the errcode of the first *Error in err's chain, 0 when
// there is none (err is nil, or a network or HTTP failure).
func ErrorCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func isTokenCode(code int) bool {
	return code == CodeInvalidCredential || code == CodeInvalidToken || code == CodeTokenExpired
}

// newError builds an *Error from errcode and errmsg, splitting the rid off.
func newError(path string, code int, errmsg string) *Error {
	msg, rid := splitRID(errmsg)
	return &Error{Path: path, Code: code, Message: msg, RID: rid}
}

// splitRID separates WeChat's " rid: 6470b073-22f009c7-44bd3a05" suffix from
// errmsg. Text after the rid, if any, stays in the message.
func splitRID(errmsg string) (msg, rid string) {
	i := strings.LastIndex(errmsg, "rid:")
	for i > 0 && isWordByte(errmsg[i-1]) { // "grid:" is not a rid
		i = strings.LastIndex(errmsg[:i], "rid:")
	}
	if i < 0 {
		return strings.TrimSpace(errmsg), ""
	}
	rest := strings.TrimSpace(errmsg[i+len("rid:"):])
	rid, tail, _ := strings.Cut(rest, " ")
	rid = strings.TrimRight(rid, ",;.)")
	msg = strings.TrimRight(strings.TrimSpace(errmsg[:i]), " ,;")
	if tail = strings.TrimSpace(tail); tail != "" {
		msg = strings.TrimSpace(msg + " " + tail)
	}
	return msg, rid
}

func isWordByte(b byte) bool {
	return b == '_' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// envelope is the part every JSON answer may carry. A missing errcode is 0.
type envelope struct {
	ErrCode flexInt    `json:"errcode"`
	ErrMsg  flexString `json:"errmsg"`
}

// flexInt accepts a JSON number, a numeric string, "" and null.
type flexInt int

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*f = 0
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s = strings.TrimSpace(s); s == "" {
			*f = 0
			return nil
		}
	}
	if n, err := strconv.Atoi(s); err == nil {
		*f = flexInt(n)
		return nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
		return fmt.Errorf("errcode %.20q is not an integer", s)
	}
	*f = flexInt(x)
	return nil
}

// flexString accepts a JSON string, or any other scalar as its text.
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	if s := strings.TrimSpace(string(b)); s != "null" {
		*f = flexString(s)
	}
	return nil
}
