package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
)

// API paths of the component (third-party platform) family.
const (
	pathComponentToken    = "/cgi-bin/component/api_component_token"
	pathStartPushTicket   = "/cgi-bin/component/api_start_push_ticket"
	pathCreatePreAuthCode = "/cgi-bin/component/api_create_preauthcode"
	pathQueryAuth         = "/cgi-bin/component/api_query_auth"
	pathAuthorizerToken   = "/cgi-bin/component/api_authorizer_token"
	pathGetAuthorizerInfo = "/cgi-bin/component/api_get_authorizer_info"
	pathGetAuthorizerList = "/cgi-bin/component/api_get_authorizer_list"
)

// ComponentTokenResp is the answer of api_component_token: the platform's own
// 令牌 (component_access_token).
type ComponentTokenResp struct {
	Token     string `json:"component_access_token"`
	ExpiresIn int    `json:"expires_in"` // seconds, normally 7200
}

// LogValue implements slog.LogValuer without revealing the token.
func (r ComponentTokenResp) LogValue() slog.Value {
	return slog.GroupValue(slog.String("component_access_token", redacted), slog.Int("expires_in", r.ExpiresIn))
}

// ComponentToken exchanges the platform's appid, appsecret and latest
// component_verify_ticket for a component_access_token
// (POST /cgi-bin/component/api_component_token, no token in the URL).
// Each call returns a new token; the caller caches it (token upkeep is not
// this package's job).
func (c *Client) ComponentToken(ctx context.Context, appid, secret, ticket string) (*ComponentTokenResp, error) {
	in := struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_appsecret"`
		Ticket string `json:"component_verify_ticket"`
	}{appid, secret, ticket}
	var out ComponentTokenResp
	if err := c.postJSON(ctx, nil, "", pathComponentToken, in, &out); err != nil {
		return nil, err
	}
	if out.Token == "" {
		return nil, fmt.Errorf("wechat %s: answer has no component_access_token", pathComponentToken)
	}
	return &out, nil
}

// StartPushTicket asks WeChat to push a component_verify_ticket right away
// instead of waiting for the next 10-minute push
// (POST /cgi-bin/component/api_start_push_ticket; note the body field is
// component_secret, not component_appsecret).
func (c *Client) StartPushTicket(ctx context.Context, appid, secret string) error {
	in := struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_secret"`
	}{appid, secret}
	return c.postJSON(ctx, nil, "", pathStartPushTicket, in, nil)
}

// PreAuthCode is a 预授权码 (pre_auth_code): it goes into an authorization URL.
type PreAuthCode struct {
	Code      string `json:"pre_auth_code"`
	ExpiresIn int    `json:"expires_in"` // seconds; WeChat's examples say 600, its prose 1800
}

// LogValue implements slog.LogValuer without revealing the code.
func (p PreAuthCode) LogValue() slog.Value {
	return slog.GroupValue(slog.String("pre_auth_code", redacted), slog.Int("expires_in", p.ExpiresIn))
}

// CreatePreAuthCode gets a pre_auth_code for an authorization URL
// (POST /cgi-bin/component/api_create_preauthcode). ts supplies the
// component_access_token.
func (c *Client) CreatePreAuthCode(ctx context.Context, ts TokenSource, componentAppID string) (*PreAuthCode, error) {
	in := struct {
		AppID string `json:"component_appid"`
	}{componentAppID}
	var out PreAuthCode
	if err := c.postJSON(ctx, ts, paramComponentAccessToken, pathCreatePreAuthCode, in, &out); err != nil {
		return nil, err
	}
	if out.Code == "" {
		return nil, fmt.Errorf("wechat %s: answer has no pre_auth_code", pathCreatePreAuthCode)
	}
	return &out, nil
}

// FuncInfo is one permission set (权限集) an authorizer granted.
type FuncInfo struct {
	FuncscopeCategory FuncscopeCategory `json:"funcscope_category"`
	ConfirmInfo       *ConfirmInfo      `json:"confirm_info,omitempty"`
}

// FuncscopeCategory names a permission set: 1 消息管理, 2 用户管理, 17 小程序帐号管理,
// 18 小程序开发管理, 19 小程序客服消息 and many more.
type FuncscopeCategory struct {
	ID   int    `json:"id"`
	Name string `json:"name,omitempty"` // newer docs only
	Desc string `json:"desc,omitempty"` // newer docs only
}

// ConfirmInfo appears on some permission sets; WeChat says to ignore it.
type ConfirmInfo struct {
	NeedConfirm    int `json:"need_confirm"`
	AlreadyConfirm int `json:"already_confirm"`
	CanConfirm     int `json:"can_confirm"`
}

// AuthorizationInfo is the authorization_info object: who authorized, with
// which permission sets, and — from api_query_auth only, and only when the
// authorizer has API permission — its tokens.
type AuthorizationInfo struct {
	AuthorizerAppID string     `json:"authorizer_appid"`
	AccessToken     string     `json:"authorizer_access_token,omitempty"` // 授权方令牌
	ExpiresIn       int        `json:"expires_in,omitempty"`
	RefreshToken    string     `json:"authorizer_refresh_token,omitempty"` // 刷新令牌: keep it safe, it is the authorization
	FuncInfo        []FuncInfo `json:"func_info"`
}

// Permissions returns the granted permission set ids (funcscope_category.id)
// in WeChat's order, without duplicates.
func (a AuthorizationInfo) Permissions() []int {
	ids := make([]int, 0, len(a.FuncInfo))
	seen := make(map[int]bool, len(a.FuncInfo))
	for _, f := range a.FuncInfo {
		id := f.FuncscopeCategory.ID
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// LogValue implements slog.LogValuer without revealing the tokens.
func (a AuthorizationInfo) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("authorizer_appid", a.AuthorizerAppID),
		slog.Bool("has_access_token", a.AccessToken != ""),
		slog.Bool("has_refresh_token", a.RefreshToken != ""),
		slog.Any("permissions", a.Permissions()),
	)
}

// QueryAuth exchanges an authorization code (auth_code from the redirect, or
// AuthorizationCode from the authorized push) for the authorizer's appid,
// tokens and permission sets (POST /cgi-bin/component/api_query_auth).
// ts supplies the component_access_token.
func (c *Client) QueryAuth(ctx context.Context, ts TokenSource, componentAppID, authCode string) (*AuthorizationInfo, error) {
	in := struct {
		AppID string `json:"component_appid"`
		Code  string `json:"authorization_code"`
	}{componentAppID, authCode}
	var out struct {
		Info AuthorizationInfo `json:"authorization_info"`
	}
	if err := c.postJSON(ctx, ts, paramComponentAccessToken, pathQueryAuth, in, &out); err != nil {
		return nil, err
	}
	if out.Info.AuthorizerAppID == "" {
		return nil, fmt.Errorf("wechat %s: answer has no authorization_info.authorizer_appid", pathQueryAuth)
	}
	return &out.Info, nil
}

// AuthorizerTokenResp is the answer of api_authorizer_token.
type AuthorizerTokenResp struct {
	AccessToken  string `json:"authorizer_access_token"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"authorizer_refresh_token"` // normally unchanged; store it anyway
}

// LogValue implements slog.LogValuer without revealing the tokens.
func (r AuthorizerTokenResp) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("authorizer_access_token", redacted),
		slog.Int("expires_in", r.ExpiresIn),
		slog.Bool("has_refresh_token", r.RefreshToken != ""),
	)
}

// AuthorizerToken gets a fresh authorizer_access_token (授权方令牌) with the
// authorizer's refresh token (POST /cgi-bin/component/api_authorizer_token).
// ts supplies the component_access_token. Errcode 61023 means the refresh
// token is dead and the merchant must authorize again.
func (c *Client) AuthorizerToken(ctx context.Context, ts TokenSource, componentAppID, authorizerAppID, refreshToken string) (*AuthorizerTokenResp, error) {
	in := struct {
		AppID           string `json:"component_appid"`
		AuthorizerAppID string `json:"authorizer_appid"`
		RefreshToken    string `json:"authorizer_refresh_token"`
	}{componentAppID, authorizerAppID, refreshToken}
	var out AuthorizerTokenResp
	if err := c.postJSON(ctx, ts, paramComponentAccessToken, pathAuthorizerToken, in, &out); err != nil {
		return nil, err
	}
	if out.AccessToken == "" {
		return nil, fmt.Errorf("wechat %s: answer has no authorizer_access_token", pathAuthorizerToken)
	}
	return &out, nil
}

// TypeInfo is service_type_info or verify_type_info.
type TypeInfo struct {
	ID int `json:"id"`
}

// MiniProgramCategory is one service category (服务类目) of a mini program.
type MiniProgramCategory struct {
	First  string `json:"first"`
	Second string `json:"second"`
}

// MiniProgramNetwork holds a mini program's server domains (服务器域名). The
// keys are capitalised on the wire.
type MiniProgramNetwork struct {
	RequestDomain   []string `json:"RequestDomain"`
	WsRequestDomain []string `json:"WsRequestDomain"`
	UploadDomain    []string `json:"UploadDomain"`
	DownloadDomain  []string `json:"DownloadDomain"`
	BizDomain       []string `json:"BizDomain"`
	UDPDomain       []string `json:"UDPDomain"`
}

// MiniProgramInfo is present in authorizer_info only for mini programs.
type MiniProgramInfo struct {
	Network    MiniProgramNetwork    `json:"network"`
	Categories []MiniProgramCategory `json:"categories"`
}

// AuthorizerInfo is the typed part of authorizer_info; everything else is in
// AuthorizerInfoResp.Raw.
type AuthorizerInfo struct {
	NickName        string           `json:"nick_name"`
	HeadImg         string           `json:"head_img"`
	UserName        string           `json:"user_name"`      // original id, gh_...
	PrincipalName   string           `json:"principal_name"` // 主体名称
	Signature       string           `json:"signature"`
	Alias           string           `json:"alias"`
	QRCodeURL       string           `json:"qrcode_url"`
	ServiceTypeInfo TypeInfo         `json:"service_type_info"` // official accounts: 0/1 订阅号, 2 服务号; mini programs 0
	VerifyTypeInfo  TypeInfo         `json:"verify_type_info"`  // -1 unverified, 0 WeChat-verified
	MiniProgramInfo *MiniProgramInfo `json:"MiniProgramInfo,omitempty"`
}

// IsMiniProgram tells a mini program (小程序) from an official account (公众号):
// only mini programs carry MiniProgramInfo.
func (a AuthorizerInfo) IsMiniProgram() bool { return a.MiniProgramInfo != nil }

// AuthorizerInfoResp is the answer of api_get_authorizer_info.
type AuthorizerInfoResp struct {
	AuthorizerInfo    AuthorizerInfo    `json:"authorizer_info"`
	Raw               json.RawMessage   `json:"-"`                  // authorizer_info exactly as WeChat sent it
	AuthorizationInfo AuthorizationInfo `json:"authorization_info"` // no access token here: appid, refresh token, func_info
}

// IsMiniProgram tells whether the authorizer is a mini program.
func (r *AuthorizerInfoResp) IsMiniProgram() bool { return r.AuthorizerInfo.IsMiniProgram() }

// GetAuthorizerInfo returns an authorizer's account details and the
// permission sets it granted (POST /cgi-bin/component/api_get_authorizer_info).
// ts supplies the component_access_token.
func (c *Client) GetAuthorizerInfo(ctx context.Context, ts TokenSource, componentAppID, authorizerAppID string) (*AuthorizerInfoResp, error) {
	in := struct {
		AppID           string `json:"component_appid"`
		AuthorizerAppID string `json:"authorizer_appid"`
	}{componentAppID, authorizerAppID}
	var out struct {
		AuthorizerInfo    json.RawMessage   `json:"authorizer_info"`
		AuthorizationInfo AuthorizationInfo `json:"authorization_info"`
	}
	if err := c.postJSON(ctx, ts, paramComponentAccessToken, pathGetAuthorizerInfo, in, &out); err != nil {
		return nil, err
	}
	if len(out.AuthorizerInfo) == 0 || string(out.AuthorizerInfo) == "null" {
		return nil, fmt.Errorf("wechat %s: answer has no authorizer_info", pathGetAuthorizerInfo)
	}
	resp := &AuthorizerInfoResp{Raw: out.AuthorizerInfo, AuthorizationInfo: out.AuthorizationInfo}
	if err := json.Unmarshal(out.AuthorizerInfo, &resp.AuthorizerInfo); err != nil {
		return nil, fmt.Errorf("wechat %s: decode authorizer_info: %w", pathGetAuthorizerInfo, err)
	}
	return resp, nil
}

// AuthorizerList is one page of api_get_authorizer_list.
type AuthorizerList struct {
	TotalCount int                  `json:"total_count"`
	List       []AuthorizerListItem `json:"list"`
}

// AuthorizerListItem is one authorizer in the list. The keys differ from
// api_query_auth's: refresh_token, not authorizer_refresh_token.
type AuthorizerListItem struct {
	AuthorizerAppID string `json:"authorizer_appid"`
	RefreshToken    string `json:"refresh_token"`
	AuthTime        int64  `json:"auth_time"` // unix seconds
}

// LogValue implements slog.LogValuer without revealing the refresh token.
func (i AuthorizerListItem) LogValue() slog.Value {
	return slog.GroupValue(slog.String("authorizer_appid", i.AuthorizerAppID), slog.Int64("auth_time", i.AuthTime))
}

// MaxAuthorizerListCount is the largest count api_get_authorizer_list accepts
// (more → errcode 40170).
const MaxAuthorizerListCount = 500

// GetAuthorizerList returns one page of the authorizers of the platform,
// count at most MaxAuthorizerListCount (POST /cgi-bin/component/api_get_authorizer_list).
// ts supplies the component_access_token.
func (c *Client) GetAuthorizerList(ctx context.Context, ts TokenSource, componentAppID string, offset, count int) (*AuthorizerList, error) {
	in := struct {
		AppID  string `json:"component_appid"`
		Offset int    `json:"offset"`
		Count  int    `json:"count"`
	}{componentAppID, offset, count}
	var out AuthorizerList
	if err := c.postJSON(ctx, ts, paramComponentAccessToken, pathGetAuthorizerList, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
