package wechat

import (
	"net/url"
	"strings"
)

// redacted replaces a secret query value in a redacted URL.
const redacted = "REDACTED"

// secretCodes are query parameters holding one-time codes that must not be logged.
var secretCodes = map[string]bool{
	"code":               true,
	"js_code":            true,
	"auth_code":          true,
	"authorization_code": true,
	"pre_auth_code":      true,
	"session_key":        true,
}

// isSecretParam tells whether a query parameter carries a credential: any
// token, secret or ticket (access_token, component_access_token,
// authorizer_refresh_token, appsecret, component_verify_ticket...) and the
// one-time codes listed above.
func isSecretParam(key string) bool {
	k := strings.ToLower(key)
	return secretCodes[k] ||
		strings.HasSuffix(k, "token") ||
		strings.HasSuffix(k, "secret") ||
		strings.HasSuffix(k, "ticket")
}

// RedactURL returns u with the values of credential query parameters
// (access_token, component_access_token, any other *token, *secret or *ticket,
// and one-time codes such as js_code, auth_code and pre_auth_code) replaced by
// REDACTED, and any userinfo password masked. The order of parameters is kept
// and the fragment is treated like the query. It is meant for logs.
func RedactURL(u string) string {
	rest, frag, hasFrag := strings.Cut(u, "#")
	base, query, hasQuery := strings.Cut(rest, "?")
	if strings.Contains(base, "@") {
		if p, err := url.Parse(base); err == nil && p.User != nil {
			base = p.Redacted()
		}
	}
	out := base
	if hasQuery {
		out += "?" + redactQuery(query)
	}
	if hasFrag {
		out += "#" + redactQuery(frag)
	}
	return out
}

func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, _, hasValue := strings.Cut(p, "=")
		if !hasValue {
			continue
		}
		key, err := url.QueryUnescape(k)
		if err != nil {
			key = k
		}
		if isSecretParam(key) {
			parts[i] = k + "=" + redacted
		}
	}
	return strings.Join(parts, "&")
}
