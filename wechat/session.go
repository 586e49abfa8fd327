package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
)

// Mini-program login on behalf of a merchant (代小程序登录):
// docs/wechat-runtime.md has the wire format.
const pathJSCode2Session = "/sns/component/jscode2session"

// Errcodes of jscode2session a caller acts on.
const (
	CodeInvalidJSCode = 40029 // the code is unknown, expired (5 minutes) or another mini program's
	CodeJSCodeUsed    = 40163 // the code was exchanged already
	CodeLoginTooOften = 45011 // the user logs in too often
	CodeRiskyUser     = 40226 // WeChat refuses this user's login
)

// Session is what jscode2session answers for one wx.login code.
type Session struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"` // base64; decrypts the user's data: it never leaves the server
	UnionID    string `json:"unionid"`     // "" unless the app is bound to an Open Platform account
}

// LogValue implements slog.LogValuer without revealing the session_key.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("openid", s.OpenID),
		slog.String("session_key", redacted),
		slog.Bool("has_unionid", s.UnionID != ""),
	)
}

// JSCode2Session exchanges the code wx.login returned inside authorizer
// appID's mini program for the user's openid and session_key
// (GET /sns/component/jscode2session); ts supplies the component_access_token.
// A code is single use, so the call is not sent again after it may have
// reached WeChat: 40163 would be all a second attempt could get.
func (c *Client) JSCode2Session(ctx context.Context, ts TokenSource, componentAppID, appID, jsCode string) (*Session, error) {
	if appID == "" || jsCode == "" {
		return nil, fmt.Errorf("wechat %s: appid and js_code are required", pathJSCode2Session)
	}
	resp, err := c.call(ctx, &request{
		method: http.MethodGet, base: c.hosts.API, path: pathJSCode2Session,
		query: url.Values{"appid": {appID}, "js_code": {jsCode}, "grant_type": {"authorization_code"},
			"component_appid": {componentAppID}},
		ts: ts, tokenParam: paramComponentAccessToken,
	})
	if err != nil {
		return nil, err
	}
	var out Session
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		return nil, fmt.Errorf("wechat %s: decode response: %w", pathJSCode2Session, err)
	}
	if out.OpenID == "" || out.SessionKey == "" {
		return nil, fmt.Errorf("wechat %s: answer has no openid or session_key", pathJSCode2Session)
	}
	return &out, nil
}
