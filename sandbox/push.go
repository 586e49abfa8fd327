package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet/wxcrypt"
)

// Push kinds: which of the two callback URLs a push goes to.
const (
	kindComponent = "component" // 授权事件接收URL: {PlatformURL}/wechat/component
	kindMessage   = "message"   // 消息与事件接收URL: {PlatformURL}/wechat/apps/{appid}
)

// pushRetries is how often a failed push is retried, as WeChat does.
const pushRetries = 3

// pushLogLimit bounds the in-memory push log behind GET /sandbox/api/pushes.
const pushLogLimit = 200

// pushJob is one push to the platform, before it is sealed.
type pushJob struct {
	comp   *component
	kind   string
	appID  string // authorizer appid (message pushes, and authorization events)
	toUser string // gh_ id: the ToUserName of a message envelope
	openID string // message pushes from a user add &openid=
	event  string // InfoType, MsgType or event name, for the log
	plain  []byte // the inner XML
	quiet  bool   // log a delivery at DEBUG (bulk pushes), a failure still at WARN
}

// pushResult is what the platform answered to a push.
type pushResult struct {
	Status   int    // HTTP status of the last attempt; 0 when no answer came
	Body     string // body of the last answer
	Attempts int
	OK       bool
	Err      error
}

// pushRecord is one entry in the push log.
type pushRecord struct {
	ID             int       `json:"id"`
	Kind           string    `json:"kind"`
	ComponentAppID string    `json:"component_appid"`
	AppID          string    `json:"appid,omitempty"`
	Event          string    `json:"event"`
	URL            string    `json:"url"`
	At             time.Time `json:"at"` // wall clock
	Done           bool      `json:"done"`
	OK             bool      `json:"ok"`
	Attempts       int       `json:"attempts"`
	Status         int       `json:"status"`
	Reply          string    `json:"reply,omitempty"`
	Error          string    `json:"error,omitempty"`
}

// sealedPush is a push ready to send: retries send exactly these bytes, so the
// platform can deduplicate them.
type sealedPush struct {
	url  string
	body []byte
}

// seal encrypts the job with the component's crypto and builds the URL with
// WeChat's query: signature, timestamp (wall clock), nonce, [openid],
// encrypt_type=aes, msg_signature.
func (s *Sandbox) seal(job pushJob) (sealedPush, error) {
	base := s.platformBase(job.comp)
	if base == "" {
		return sealedPush{}, errors.New("no platform URL configured (Config.PlatformURL or Component.PlatformURL)")
	}
	timestamp := strconv.FormatInt(s.wall().Unix(), 10)
	nonce := randomDigits(10)
	encrypt, msgSig, err := job.comp.crypt.Seal(job.plain, timestamp, nonce)
	if err != nil {
		return sealedPush{}, err
	}
	var target string
	var body []byte
	switch job.kind {
	case kindComponent:
		target = base + "/wechat/component"
		body = wxcrypt.ComponentEnvelope(job.comp.AppID, encrypt)
	default:
		target = base + "/wechat/apps/" + url.PathEscape(job.appID)
		body = wxcrypt.MessageEnvelope(job.toUser, encrypt)
	}
	q := "signature=" + job.comp.crypt.PlainSignature(timestamp, nonce) +
		"&timestamp=" + timestamp + "&nonce=" + nonce
	if job.openID != "" {
		q += "&openid=" + url.QueryEscape(job.openID)
	}
	q += "&encrypt_type=aes&msg_signature=" + msgSig
	return sealedPush{url: target + "?" + q, body: body}, nil
}

// deliver sends a sealed push once and reads the answer. The timeout is
// WeChat's 5 seconds, on top of whatever the HTTP client enforces.
func (s *Sandbox) deliver(ctx context.Context, p sealedPush, timeout time.Duration) (status int, reply string, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(p.body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "Mozilla/4.0 (wxfleet sandbox)")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(data), err
}

// accepted tells whether the platform acknowledged a push: the authorization
// event URL must answer 200 "success"; the message URL may answer 200 with
// "success", an empty body or a passive reply.
func accepted(kind string, status int, reply string) bool {
	if status != http.StatusOK {
		return false
	}
	if kind == kindComponent {
		return strings.TrimSpace(reply) == "success"
	}
	return true
}

// push sends a job, retrying failures up to pushRetries times with a short
// doubling backoff, logs the outcome and records it in the push log.
func (s *Sandbox) push(ctx context.Context, job pushJob) pushResult {
	rec := s.recordPush(job)
	sealed, err := s.seal(job)
	if err != nil {
		res := pushResult{Err: err}
		s.finishPush(rec, job, res)
		return res
	}
	s.mu.Lock()
	rec.URL = sealed.url[:strings.IndexByte(sealed.url, '?')]
	s.mu.Unlock()
	var res pushResult
	backoff := s.retryBackoff
	for i := range 1 + pushRetries {
		if i > 0 {
			select {
			case <-ctx.Done():
				res.Err = ctx.Err()
				s.finishPush(rec, job, res)
				return res
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		res.Attempts = i + 1
		res.Status, res.Body, res.Err = s.deliver(ctx, sealed, 5*time.Second)
		res.OK = res.Err == nil && accepted(job.kind, res.Status, res.Body)
		if res.OK {
			break
		}
	}
	s.finishPush(rec, job, res)
	return res
}

// pushAsync sends a job in the background, like WeChat: the caller (say, the
// browser's redirect) does not wait for the platform.
func (s *Sandbox) pushAsync(job pushJob) {
	s.goBackground(func(ctx context.Context) { s.push(ctx, job) })
}

func (s *Sandbox) recordPush(job pushJob) *pushRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextPush++
	rec := &pushRecord{ID: s.nextPush, Kind: job.kind, ComponentAppID: job.comp.AppID, AppID: job.appID,
		Event: job.event, At: s.wall().UTC().Round(0)}
	s.pushes = append(s.pushes, rec)
	if len(s.pushes) > pushLogLimit {
		s.pushes = s.pushes[len(s.pushes)-pushLogLimit:]
	}
	return rec
}

func (s *Sandbox) finishPush(rec *pushRecord, job pushJob, res pushResult) {
	s.mu.Lock()
	rec.Done, rec.OK, rec.Attempts, rec.Status = true, res.OK, res.Attempts, res.Status
	rec.Reply = truncate(res.Body, 500)
	if res.Err != nil {
		rec.Error = res.Err.Error()
	} else if !res.OK {
		rec.Error = fmt.Sprintf("platform answered HTTP %d %q", res.Status, truncate(res.Body, 80))
	}
	errText := rec.Error
	s.mu.Unlock()
	attrs := []any{"kind", job.kind, "event", job.event, "component_appid", job.comp.AppID,
		"appid", job.appID, "attempts", res.Attempts, "status", res.Status}
	switch {
	case res.OK && job.quiet:
		s.log.Debug("push delivered", attrs...)
	case res.OK:
		s.log.Info("push delivered", attrs...)
	default:
		s.log.Warn("push failed", append(attrs, "err", errText)...)
	}
}

func truncate(v string, n int) string {
	if len(v) <= n {
		return v
	}
	return v[:n] + "…"
}

// pushTicket issues a new component_verify_ticket, remembers it (it is valid
// whether or not the platform received it) and pushes it.
func (s *Sandbox) pushTicket(ctx context.Context, c *component) (string, pushResult) {
	s.mu.Lock()
	ticket := s.issueTicketLocked(c, s.now())
	s.mu.Unlock()
	s.waitDurable(ctx)
	var x xmlDoc
	x.str("AppId", c.AppID)
	x.num("CreateTime", s.wall().Unix())
	x.str("InfoType", "component_verify_ticket")
	x.str("ComponentVerifyTicket", ticket)
	res := s.push(ctx, pushJob{comp: c, kind: kindComponent, event: "component_verify_ticket", plain: x.bytes()})
	return ticket, res
}

// authEvent builds an authorized/updateauthorized push with all seven fields;
// AuthorizationCodeExpiredTime is CreateTime+3600, an absolute unix time as
// observed in real pushes.
func (s *Sandbox) authEvent(c *component, infoType, appid, code, preAuthCode string) pushJob {
	created := s.wall().Unix()
	var x xmlDoc
	x.str("AppId", c.AppID)
	x.num("CreateTime", created)
	x.str("InfoType", infoType)
	x.str("AuthorizerAppid", appid)
	x.str("AuthorizationCode", code)
	x.num("AuthorizationCodeExpiredTime", created+int64(authCodeTTL/time.Second))
	x.str("PreAuthCode", preAuthCode)
	return pushJob{comp: c, kind: kindComponent, appID: appid, event: infoType, plain: x.bytes()}
}

// unauthEvent builds an unauthorized push: only AppId, CreateTime, InfoType
// and AuthorizerAppid.
func (s *Sandbox) unauthEvent(c *component, appid string) pushJob {
	var x xmlDoc
	x.str("AppId", c.AppID)
	x.num("CreateTime", s.wall().Unix())
	x.str("InfoType", "unauthorized")
	x.str("AuthorizerAppid", appid)
	return pushJob{comp: c, kind: kindComponent, appID: appid, event: "unauthorized", plain: x.bytes()}
}

// xmlDoc writes WeChat's flat <xml> documents: strings in CDATA, numbers bare.
type xmlDoc struct{ b strings.Builder }

func (x *xmlDoc) str(name, v string) {
	x.open()
	x.b.WriteString("<" + name + "><![CDATA[")
	// "]]>" cannot appear inside CDATA: split it across two sections.
	x.b.WriteString(strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>"))
	x.b.WriteString("]]></" + name + ">")
}

func (x *xmlDoc) num(name string, v int64) {
	x.open()
	x.b.WriteString("<" + name + ">" + strconv.FormatInt(v, 10) + "</" + name + ">")
}

func (x *xmlDoc) raw(name, v string) {
	x.open()
	x.b.WriteString("<" + name + ">" + v + "</" + name + ">")
}

func (x *xmlDoc) open() {
	if x.b.Len() == 0 {
		x.b.WriteString("<xml>")
	}
}

func (x *xmlDoc) bytes() []byte {
	x.open()
	return []byte(x.b.String() + "</xml>")
}
