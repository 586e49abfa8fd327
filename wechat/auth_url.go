package wechat

import (
	"net/url"
	"strconv"
	"strings"
)

// Values of auth_type in an authorization URL.
const (
	AuthTypeOfficialAccount = 1 // only official accounts (公众号) may authorize
	AuthTypeMiniProgram     = 2 // only mini programs (小程序)
	AuthTypeBoth            = 3 // both; the same as leaving auth_type out
)

// PCAuthURL returns the PC authorization page (授权注册页面, scanned with WeChat):
// {MP}/cgi-bin/componentloginpage?component_appid=..&pre_auth_code=..&redirect_uri=..&auth_type=N&biz_appid=..
// auth_type is left out when 0 and biz_appid when empty; biz_appid, if set,
// restricts the authorization to that one account. After authorizing, the
// browser goes to redirectURI with auth_code and expires_in added.
func (c *Client) PCAuthURL(componentAppID, preAuthCode, redirectURI string, authType int, bizAppID string) string {
	var b strings.Builder
	b.WriteString(c.hosts.MP)
	b.WriteString("/cgi-bin/componentloginpage?")
	writeAuthParams(&b, componentAppID, preAuthCode, redirectURI, authType, bizAppID)
	return b.String()
}

// H5AuthURL returns the mobile authorization link, to be opened inside WeChat:
// {Open}/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&component_appid=..&pre_auth_code=..&redirect_uri=..&auth_type=N&biz_appid=..#wechat_redirect
// with the same rules as PCAuthURL.
func (c *Client) H5AuthURL(componentAppID, preAuthCode, redirectURI string, authType int, bizAppID string) string {
	var b strings.Builder
	b.WriteString(c.hosts.Open)
	b.WriteString("/wxaopen/safe/bindcomponent?action=bindcomponent&no_scan=1&")
	writeAuthParams(&b, componentAppID, preAuthCode, redirectURI, authType, bizAppID)
	b.WriteString("#wechat_redirect")
	return b.String()
}

// writeAuthParams writes the parameters in the order WeChat's docs show them.
func writeAuthParams(b *strings.Builder, componentAppID, preAuthCode, redirectURI string, authType int, bizAppID string) {
	b.WriteString("component_appid=")
	b.WriteString(url.QueryEscape(componentAppID))
	b.WriteString("&pre_auth_code=")
	b.WriteString(url.QueryEscape(preAuthCode))
	b.WriteString("&redirect_uri=")
	b.WriteString(url.QueryEscape(redirectURI))
	if authType != 0 {
		b.WriteString("&auth_type=")
		b.WriteString(strconv.Itoa(authType))
	}
	if bizAppID != "" {
		b.WriteString("&biz_appid=")
		b.WriteString(url.QueryEscape(bizAppID))
	}
}
