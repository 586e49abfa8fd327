package wechat

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by New.
const (
	DefaultTimeout = 10 * time.Second
	DefaultRetries = 2
	DefaultBackoff = 200 * time.Millisecond

	maxBackoff  = 30 * time.Second
	maxBodySize = 64 << 20 // media downloads through Forward stay well below this
)

// Hosts are the base URLs the client talks to, without a trailing slash.
type Hosts struct {
	API  string // api.weixin.qq.com: every JSON API
	MP   string // mp.weixin.qq.com: the PC authorization page
	Open string // open.weixin.qq.com: the H5 authorization page
}

// DefaultHosts returns WeChat's own hosts.
func DefaultHosts() Hosts {
	return Hosts{
		API:  "https://api.weixin.qq.com",
		MP:   "https://mp.weixin.qq.com",
		Open: "https://open.weixin.qq.com",
	}
}

// SingleHost points all three hosts at one base URL, such as the sandbox's.
// A trailing slash is trimmed.
func SingleHost(baseURL string) Hosts {
	b := strings.TrimRight(baseURL, "/")
	return Hosts{API: b, MP: b, Open: b}
}

// Options configure a Client. The zero value talks to WeChat with the defaults.
type Options struct {
	// Hosts to call; empty fields fall back to DefaultHosts.
	Hosts Hosts
	// HTTPClient sends the requests; nil means a client with a pooled transport.
	// Its own Timeout, if any, applies on top of Timeout below.
	HTTPClient *http.Client
	// Timeout bounds each attempt (connect, send, read the whole body);
	// 0 means DefaultTimeout (10 s).
	Timeout time.Duration
	// Retries is how many extra attempts errcode -1 and network errors get
	// (see the package documentation for which network errors); 0 means
	// DefaultRetries (2), a negative value means no retry at all.
	Retries int
	// Backoff is the wait before the first retry, doubled for each further one,
	// with jitter (a random value between half and all of it);
	// 0 means DefaultBackoff (200 ms).
	Backoff time.Duration
	// Logger receives one debug line per call; nil discards.
	Logger *slog.Logger
	// Observe, if set, is called once per attempt with the API path, the
	// errcode WeChat answered (0 on success, -2 for a network or HTTP failure)
	// and the attempt's duration. It is the hook for metrics.
	Observe func(path string, errcode int, d time.Duration)
	// Sleep waits between retries and returns early with ctx's error when ctx
	// is done; nil means a timer. Tests inject one to avoid real sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls WeChat's APIs. It is safe for concurrent use.
type Client struct {
	hosts   Hosts
	http    *http.Client
	timeout time.Duration
	retries int
	backoff time.Duration
	log     *slog.Logger
	observe func(path string, errcode int, d time.Duration)
	sleep   func(ctx context.Context, d time.Duration) error
}

// New returns a Client configured by o.
func New(o Options) *Client {
	c := &Client{
		hosts:   o.Hosts,
		http:    o.HTTPClient,
		timeout: o.Timeout,
		retries: o.Retries,
		backoff: o.Backoff,
		log:     o.Logger,
		observe: o.Observe,
		sleep:   o.Sleep,
	}
	d := DefaultHosts()
	c.hosts.API = orDefault(c.hosts.API, d.API)
	c.hosts.MP = orDefault(c.hosts.MP, d.MP)
	c.hosts.Open = orDefault(c.hosts.Open, d.Open)
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		c.http = &http.Client{Transport: t}
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.retries == 0:
		c.retries = DefaultRetries
	case c.retries < 0:
		c.retries = 0
	}
	if c.backoff <= 0 {
		c.backoff = DefaultBackoff
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	return c
}

func orDefault(s, def string) string {
	if s = strings.TrimRight(s, "/"); s == "" {
		return def
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// TokenSource supplies an access token and is told when WeChat rejected it.
type TokenSource interface {
	// Token returns the current token.
	Token(ctx context.Context) (string, error)
	// Invalidate is called once when WeChat answered 40001/40014/42001 for tok; rejection is
	// that answer. The source must re-read its store and only refresh from WeChat if the
	// stored token is still tok (another instance may have refreshed already); the client then
	// asks Token again and retries once. An error ends the call with it.
	Invalidate(ctx context.Context, tok string, rejection *Error) error
}

// StaticToken is a TokenSource for a token already in hand, such as the
// authorizer_access_token api_query_auth just returned. It cannot refresh:
// Invalidate does nothing, so a rejected token is retried once and the second
// rejection is returned.
type StaticToken string

// Token returns the token itself.
func (s StaticToken) Token(context.Context) (string, error) { return string(s), nil }

// Invalidate does nothing.
func (s StaticToken) Invalidate(context.Context, string, *Error) error { return nil }

// LogValue implements slog.LogValuer without revealing the token.
func (s StaticToken) LogValue() slog.Value { return slog.StringValue(redacted) }

// Token query parameters.
const (
	paramAccessToken          = "access_token"
	paramComponentAccessToken = "component_access_token"
)

// request is one logical call; the client may send it several times.
type request struct {
	method string
	base   string
	path   string // without query; names the call in errors, logs and metrics
	query  url.Values
	body   []byte // JSON unless contentType says otherwise; nil for none
	// contentType of body; "" means JSON (media/upload sends multipart).
	contentType string
	ts          TokenSource
	tokenParam  string // query parameter the token goes in; "" when the call takes none
	raw         bool   // Forward: any status and any body are answers, not failures
	// resend: sending the request twice does no harm (it reads, or makes
	// something new that replaces nothing), so a network failure after it
	// may have reached WeChat is retried too. Otherwise only a failure to
	// connect is.
	resend bool
}

// resendable lists the calls that may be sent again after they may have
// reached WeChat. Not among them: api_authorizer_token (a refresh token may
// have rotated under us: a second call with the old one fails 61023) and
// message/custom/send (the user would get the message twice).
var resendable = map[string]bool{
	pathComponentToken:    true,
	pathStartPushTicket:   true,
	pathCreatePreAuthCode: true,
	pathQueryAuth:         true,
	pathGetAuthorizerInfo: true,
	pathGetAuthorizerList: true,
}

// Response is a raw answer from WeChat, as Forward returns it.
type Response struct {
	Status      int         // HTTP status code
	ContentType string      // the Content-Type header
	Header      http.Header // all response headers
	Body        []byte      // the body, unchanged

	path string
}

// Err returns the *Error the body carries when it is a JSON object with a
// non-zero errcode, and nil otherwise (success, or a non-JSON body such as an image).
func (r *Response) Err() error {
	if r == nil {
		return nil
	}
	if env, ok := peekEnvelope(r.Body); ok && env.ErrCode != 0 {
		return newError(r.path, int(env.ErrCode), string(env.ErrMsg))
	}
	return nil
}

// outcome is what one attempt produced.
type outcome struct {
	resp      *Response
	apiErr    *Error // a 200 JSON answer with errcode != 0
	err       error  // a failure with no usable answer
	retryable bool   // err is a network error worth another attempt
	code      int    // what Observe sees
}

// call sends r, retrying as the package documentation says, and returns the
// final answer. For typed calls (r.raw false) the response is a 200 JSON body
// with errcode 0; for Forward it is whatever arrived.
func (c *Client) call(ctx context.Context, r *request) (*Response, error) {
	start := time.Now()
	resp, code, attempts, err := c.run(ctx, r)
	attrs := []slog.Attr{
		slog.String("path", r.path),
		slog.Int("errcode", code),
		slog.Duration("duration", time.Since(start)),
		slog.Int("attempts", attempts),
	}
	if resp != nil && resp.Status != http.StatusOK {
		attrs = append(attrs, slog.Int("status", resp.Status))
	}
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.RID != "" {
		attrs = append(attrs, slog.String("rid", apiErr.RID))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if IsPlatformDefect(code) {
		// WeChat says the request was malformed: a platform bug to fix, with
		// the API path to find it by. Forward's request came from its caller.
		attrs = append(attrs, slog.Bool("forwarded", r.raw))
		c.log.LogAttrs(ctx, slog.LevelError, "wechat refused the request as malformed: a platform defect, not retried", attrs...)
		return resp, err
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "wechat call", attrs...)
	return resp, err
}

func (c *Client) run(ctx context.Context, r *request) (resp *Response, code, attempts int, err error) {
	var tok string
	if r.tokenParam != "" {
		if r.ts == nil {
			return nil, -2, 0, fmt.Errorf("wechat %s: no TokenSource given", r.path)
		}
		if tok, err = sourceToken(ctx, r.ts); err != nil {
			return nil, -2, 0, fmt.Errorf("wechat %s: get token: %w", r.path, err)
		}
	}
	retried, refreshed := 0, false
	for {
		attempts++
		o := c.attempt(ctx, r, tok)
		busy := o.apiErr != nil && o.apiErr.Code == CodeSystemBusy
		// A platform defect (IsPlatformDefect) is neither a token code nor
		// busy: it is returned at once, as sending it again cannot help.
		switch {
		case o.apiErr != nil && isTokenCode(o.apiErr.Code) && r.tokenParam != "" && !refreshed:
			refreshed = true
			if err := ctx.Err(); err != nil {
				return nil, o.code, attempts, fmt.Errorf("wechat %s: %w (after %w)", r.path, err, o.apiErr)
			}
			if err := r.ts.Invalidate(ctx, tok, o.apiErr); err != nil {
				return nil, o.code, attempts, fmt.Errorf("wechat %s: invalidate rejected token: %w (after %w)", r.path, err, o.apiErr)
			}
			if tok, err = sourceToken(ctx, r.ts); err != nil {
				return nil, o.code, attempts, fmt.Errorf("wechat %s: get fresh token: %w (after %w)", r.path, err, o.apiErr)
			}
			continue
		case (o.retryable || busy) && retried < c.retries:
			last := o.err
			if last == nil {
				last = o.apiErr
			}
			d := c.backoffFor(retried)
			retried++
			if err := c.sleep(ctx, d); err != nil {
				return nil, o.code, attempts, fmt.Errorf("wechat %s: giving up: %w (last: %w)", r.path, err, last)
			}
			if err := ctx.Err(); err != nil {
				return nil, o.code, attempts, fmt.Errorf("wechat %s: giving up: %w (last: %w)", r.path, err, last)
			}
			continue
		}
		if o.err != nil {
			return nil, o.code, attempts, o.err
		}
		if o.apiErr != nil && !r.raw {
			return nil, o.code, attempts, o.apiErr
		}
		return o.resp, o.code, attempts, nil
	}
}

func sourceToken(ctx context.Context, ts TokenSource) (string, error) {
	tok, err := ts.Token(ctx)
	if err == nil && tok == "" {
		err = errors.New("TokenSource returned an empty token")
	}
	return tok, err
}

// backoffFor returns the wait before retry n (0-based): Backoff·2ⁿ, capped,
// with "equal jitter" — a random value in [d/2, d] — so that instances that
// failed together do not retry together.
func (c *Client) backoffFor(n int) time.Duration {
	d := c.backoff
	for i := 0; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

// attempt sends r once, under its own timeout, and classifies the answer.
func (c *Client) attempt(ctx context.Context, r *request, tok string) (o outcome) {
	start := time.Now()
	defer func() {
		if c.observe != nil {
			c.observe(metricPath(r), o.code, time.Since(start))
		}
	}()
	o.code = -2
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, c.buildURL(r, tok), body)
	if err != nil {
		o.err = fmt.Errorf("wechat %s: build request: %w", r.path, redactErr(err))
		return o
	}
	if r.body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json; charset=utf-8"
		}
		req.Header.Set("Content-Type", ct)
	}
	res, err := c.http.Do(req)
	if err != nil {
		o.err = fmt.Errorf("wechat %s: %w", r.path, redactErr(err))
		o.retryable = ctx.Err() == nil && retryableNetErr(err) && (r.resend || notSent(err))
		return o
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxBodySize+1))
	res.Body.Close()
	if err != nil {
		o.err = fmt.Errorf("wechat %s: read response: %w", r.path, redactErr(err))
		// WeChat has the request and may have acted on it.
		o.retryable = ctx.Err() == nil && retryableNetErr(err) && r.resend
		return o
	}
	if len(data) > maxBodySize {
		o.err = fmt.Errorf("wechat %s: response larger than %d bytes", r.path, maxBodySize)
		return o
	}
	o.resp = &Response{
		Status:      res.StatusCode,
		ContentType: res.Header.Get("Content-Type"),
		Header:      res.Header,
		Body:        data,
		path:        r.path,
	}

	env, isJSON := peekEnvelope(data)
	if res.StatusCode != http.StatusOK {
		if r.raw {
			return o // passed through as it came
		}
		if isJSON && env.ErrCode != 0 {
			o.err = fmt.Errorf("wechat %s: %w %d: %w", r.path, ErrHTTPStatus, res.StatusCode, newError(r.path, int(env.ErrCode), string(env.ErrMsg)))
		} else {
			o.err = fmt.Errorf("wechat %s: %w %d", r.path, ErrHTTPStatus, res.StatusCode)
		}
		o.resp = nil
		return o
	}
	if !isJSON {
		if r.raw {
			o.code = 0 // an image, a file: WeChat's errors are always JSON
			return o
		}
		o.err = fmt.Errorf("wechat %s: response is not a JSON object (Content-Type %q)", r.path, o.resp.ContentType)
		o.resp = nil
		return o
	}
	o.code = int(env.ErrCode)
	if env.ErrCode != 0 {
		o.apiErr = newError(r.path, int(env.ErrCode), string(env.ErrMsg))
	}
	return o
}

func (c *Client) buildURL(r *request, tok string) string {
	q := make(url.Values, len(r.query)+1)
	for k, v := range r.query {
		q[k] = append([]string(nil), v...)
	}
	if r.tokenParam != "" {
		q.Set(r.tokenParam, tok) // overwrites whatever the caller put there
	}
	u := r.base + r.path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// peekEnvelope reads errcode and errmsg when data is a JSON object.
func peekEnvelope(data []byte) (envelope, bool) {
	var env envelope
	b := bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(data), []byte("\xef\xbb\xbf")))
	if len(b) == 0 || b[0] != '{' {
		return env, false
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return envelope{}, false
	}
	return env, true
}

// retryableNetErr tells a transient network failure (refused, reset, timed
// out, closed early) from one that another attempt cannot fix.
func retryableNetErr(err error) bool {
	var (
		certErr    *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr):
		return false
	case errors.Is(err, context.Canceled):
		return false
	}
	return true
}

// notSent tells a failure to connect, after which WeChat cannot have seen the
// request, from one later on (a timeout, a reset while waiting), after which
// it may have.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	// A kept-alive connection WeChat closed as idle just as we sent on it:
	// net/http's errServerClosedIdle, unexported, known by its text (stable
	// since Go 1.9). The server had stopped reading; it retries such requests
	// itself when they are idempotent. (Nothing written at all, it retries
	// POSTs too: our bodies can be rewound.)
	return strings.Contains(err.Error(), "http: server closed idle connection")
}

// redactErr strips tokens from the URL a *url.Error prints.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = RedactURL(ue.URL)
	}
	return err
}

// marshalBody encodes v as JSON without HTML escaping, as WeChat's samples do
// ("<a href=...>" in a text message stays readable).
func marshalBody(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// postJSON POSTs in as JSON to the API host and decodes the answer into out.
func (c *Client) postJSON(ctx context.Context, ts TokenSource, tokenParam, path string, in, out any) error {
	body, err := marshalBody(in)
	if err != nil {
		return fmt.Errorf("wechat %s: encode request: %w", path, err)
	}
	resp, err := c.call(ctx, &request{
		method:     http.MethodPost,
		base:       c.hosts.API,
		path:       path,
		body:       body,
		ts:         ts,
		tokenParam: tokenParam,
		resend:     resendable[path] || codeReads[path],
	})
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return fmt.Errorf("wechat %s: decode response: %w", path, err)
		}
	}
	return nil
}
