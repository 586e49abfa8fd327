package wechat

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Forward makes a raw call to any path of the API host with access_token set
// from ts (overwriting one the caller sent). It is for the many APIs this
// package has no typed call for.
//
// The answer comes back unchanged — status, Content-Type, headers and body —
// and a non-200 status or a JSON errcode is not an error: use Response.Err.
// Forward still applies the per-attempt timeout, retries errcode -1 and
// network errors, and on a token error (40001/40014/42001) invalidates the
// token and retries once; it detects errcodes by peeking at JSON bodies, so
// images and files pass straight through. A non-empty body is sent as
// application/json.
func (c *Client) Forward(ctx context.Context, ts TokenSource, method, path string, query url.Values, body []byte) (*Response, error) {
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("wechat forward: path %q must start with / and carry no query", path)
	}
	if method == "" {
		return nil, fmt.Errorf("wechat %s: no method", path)
	}
	q := make(url.Values, len(query))
	for k, v := range query {
		if k != paramAccessToken {
			q[k] = v
		}
	}
	if len(body) == 0 {
		body = nil
	}
	return c.call(ctx, &request{
		method:     strings.ToUpper(method),
		base:       c.hosts.API,
		path:       path,
		query:      q,
		body:       body,
		ts:         ts,
		tokenParam: paramAccessToken,
		raw:        true,
		// What a forwarded POST does is unknown: only reads are sent again
		// after they may have reached WeChat.
		resend: strings.EqualFold(method, http.MethodGet) || strings.EqualFold(method, http.MethodHead),
	})
}
