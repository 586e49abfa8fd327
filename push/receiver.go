// Package push receives WeChat's pushes: it verifies and decrypts them,
// records each one durably before acknowledging it, and hands it to the
// platform's handlers. Two endpoints exist, as WeChat configures them for a
// third-party platform: the authorization event URL (授权事件接收URL), which
// gets component_verify_ticket and authorization changes, and the message and
// event URL (消息与事件接收URL, with $APPID$), which gets the authorizers'
// user messages and events.
package push

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wxcrypt"
)

// MaxBody is the largest push body accepted. WeChat's pushes are a few KiB.
const MaxBody = 1 << 20

// MaxSkew is how far a push's timestamp may be from our clock. Older pushes
// are refused as replays.
const MaxSkew = 5 * time.Minute

// Router finds the crypto of the platform a push is for.
type Router interface {
	// Component returns the crypter of the platform with this component appid.
	Component(componentAppID string) (*wxcrypt.Crypter, bool)
	// ForAuthorizer returns the crypters of the platforms an authorizer's push
	// may come from, most likely first.
	ForAuthorizer(ctx context.Context, appID string) []*wxcrypt.Crypter
}

// Handler acts on pushes once they are stored. Both methods also run for
// retries of pushes stored before (inserted false), so they must be
// idempotent; an error makes the receiver answer 500 and WeChat retry.
type Handler interface {
	Component(ctx context.Context, ev *wxfleet.Event, msg Message, inserted bool) error
	// Message may return a passive reply (plaintext XML) to send back encrypted;
	// nil means "success".
	Message(ctx context.Context, ev *wxfleet.Event, msg Message, inserted bool) (reply []byte, err error)
}

// Counter is told the outcome of every push (metrics).
type Counter func(endpoint, typ, result string)

// Recorder stores accepted pushes: Record returns once ev is durable, and
// reports whether it was new (false: a retry of a push stored before).
// Committer is one (a group commit into the database); the ingest journal is
// the other.
type Recorder interface {
	Record(ctx context.Context, ev *wxfleet.Event) (inserted bool, err error)
}

// arrivals is implemented by recorders that want to know a push is on its
// way before it reaches Record (Committer waits for such pushes).
type arrivals interface {
	Arriving()
	Arrived()
}

// Receiver serves the two push endpoints.
type Receiver struct {
	Router   Router
	Recorder Recorder
	Handler  Handler
	Now      func() time.Time
	Logger   *slog.Logger
	Count    Counter
}

// rejection is a push refused before anything was stored.
type rejection struct {
	status int
	step   string // which check failed: params, timestamp, envelope, platform, signature, base64, padding, length, appid, xml
	detail string
}

func reject(status int, step, detail string) *rejection { return &rejection{status, step, detail} }

// ServeComponent handles POST (and GET echostr) on the authorization event URL.
func (r *Receiver) ServeComponent(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodGet {
		r.echo(w, req, "")
		return
	}
	r.arriving()
	plain, crypter, rej := r.open(w, req, "")
	if rej != nil {
		r.arrived()
		r.refuse(w, req, "component", rej)
		return
	}
	msg, err := ParseMessage(plain)
	if err != nil {
		r.arrived()
		r.refuse(w, req, "component", reject(http.StatusBadRequest, "xml", "decrypted body is not WeChat XML"))
		return
	}
	infoType := msg.Get("InfoType")
	sum := sha1.Sum(plain)
	ev := &wxfleet.Event{
		ComponentAppID: crypter.AppID(),
		AppID:          msg.Get("AuthorizerAppid"),
		Type:           infoType,
		DedupKey:       "c:" + hex.EncodeToString(sum[:]),
		CreateTime:     msg.Time("CreateTime"),
		ReceivedAt:     r.Now(),
		Payload:        redact(plain, msg),
	}
	if ev.AppID == "" {
		ev.AppID = msg.Get("appid") // notify_third_fasteregister uses lowercase
	}
	r.arrived()
	inserted, err := r.Recorder.Record(req.Context(), ev)
	if err != nil {
		r.fail(w, "component", infoType, "record", err)
		return
	}
	if err := r.Handler.Component(req.Context(), ev, msg, inserted); err != nil {
		r.fail(w, "component", infoType, "handle", err)
		return
	}
	r.count("component", infoType, inserted)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "success")
}

// ServeApp handles POST (and GET echostr) on the message URL of authorizer appID.
func (r *Receiver) ServeApp(w http.ResponseWriter, req *http.Request, appID string) {
	if req.Method == http.MethodGet {
		r.echo(w, req, appID)
		return
	}
	r.arriving()
	plain, crypter, rej := r.open(w, req, appID)
	if rej != nil {
		r.arrived()
		r.refuse(w, req, "app", rej)
		return
	}
	msg, err := ParseMessage(plain)
	if err != nil {
		r.arrived()
		r.refuse(w, req, "app", reject(http.StatusBadRequest, "xml", "decrypted body is not WeChat XML"))
		return
	}
	typ := msg.Get("MsgType")
	if typ == "event" {
		typ = msg.Get("Event")
	}
	ev := &wxfleet.Event{
		ComponentAppID: crypter.AppID(),
		AppID:          appID,
		Type:           typ,
		DedupKey:       messageDedupKey(msg),
		CreateTime:     msg.Time("CreateTime"),
		ReceivedAt:     r.Now(),
		Payload:        plain,
	}
	r.arrived()
	inserted, err := r.Recorder.Record(req.Context(), ev)
	if err != nil {
		r.fail(w, "app", typ, "record", err)
		return
	}
	reply, err := r.Handler.Message(req.Context(), ev, msg, inserted)
	if err != nil {
		r.fail(w, "app", typ, "handle", err)
		return
	}
	r.count("app", typ, inserted)
	if reply == nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "success")
		return
	}
	body, err := crypter.ReplyEnvelope(reply, r.Now().Unix(), nonce())
	if err != nil {
		r.fail(w, "app", typ, "reply", err)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Write(body)
}

func (r *Receiver) arriving() {
	if a, ok := r.Recorder.(arrivals); ok {
		a.Arriving()
	}
}

func (r *Receiver) arrived() {
	if a, ok := r.Recorder.(arrivals); ok {
		a.Arrived()
	}
}

// secretFields hold values worth a token: the ticket (kept sealed in its own
// table), authorization codes, and the pre_auth_code (auth_links keeps only
// its digest: with the code, whoever reads the events could start an
// authorization credited to the link's merchant). The stored event keeps
// everything else.
var secretFields = []string{"ComponentVerifyTicket", "AuthorizationCode", "auth_code", "PreAuthCode"}

// redact returns plain with the values of secretFields replaced.
func redact(plain []byte, msg Message) []byte {
	out := plain
	for _, name := range secretFields {
		if v := msg.Get(name); v != "" {
			out = bytes.ReplaceAll(out, []byte(v), []byte("[REDACTED]"))
		}
	}
	return out
}

// messageDedupKey identifies WeChat's retries of a message: by MsgId for user
// messages, by sender and CreateTime for events (WeChat's own advice). The
// subscribe events add a digest of their <List>s: two deliveries (or two
// popups) for one user in one second are two events with the same sender
// and time, while a retry repeats the same lists (docs/wechat-capabilities.md).
func messageDedupKey(msg Message) string {
	if id := msg.Get("MsgId"); id != "" {
		return "m:" + id
	}
	key := "e:" + msg.Get("FromUserName") + ":" + msg.Get("CreateTime") + ":" + msg.Get("Event") + ":" + msg.Get("MsgType")
	if lists, ok := subscribeLists[msg.Get("Event")]; ok && msg.Get("MsgType") == "event" {
		sum := sha1.Sum([]byte(msg.Get(lists)))
		key += ":" + hex.EncodeToString(sum[:6])
	}
	return key
}

// subscribeLists names the element holding the <List>s of each subscribe event.
var subscribeLists = map[string]string{
	"subscribe_msg_popup_event":  "SubscribeMsgPopupEvent",
	"subscribe_msg_change_event": "SubscribeMsgChangeEvent",
	"subscribe_msg_sent_event":   "SubscribeMsgSentEvent",
}

// open reads, verifies and decrypts a push. appID is "" on the component URL.
func (r *Receiver) open(w http.ResponseWriter, req *http.Request, appID string) ([]byte, *wxcrypt.Crypter, *rejection) {
	q := req.URL.Query()
	ts, nonce, sig := q.Get("timestamp"), q.Get("nonce"), q.Get("msg_signature")
	if ts == "" || nonce == "" || sig == "" {
		return nil, nil, reject(http.StatusBadRequest, "params", "timestamp, nonce and msg_signature are required (encrypt_type=aes)")
	}
	if rej := r.checkTimestamp(ts); rej != nil {
		return nil, nil, rej
	}
	if req.ContentLength > MaxBody { // refused before a byte of it is read
		return nil, nil, reject(http.StatusRequestEntityTooLarge, "size", "body over 1 MiB")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, nil, reject(http.StatusRequestEntityTooLarge, "size", "body over 1 MiB")
		}
		return nil, nil, reject(http.StatusBadRequest, "read", "reading the body failed")
	}
	env, err := wxcrypt.ParseEnvelope(body)
	if err != nil {
		return nil, nil, reject(http.StatusBadRequest, "envelope", "body has no <Encrypt>")
	}
	var candidates []*wxcrypt.Crypter
	if appID == "" {
		c, ok := r.Router.Component(env.AppID)
		if !ok {
			return nil, nil, reject(http.StatusNotFound, "platform", "no platform with component appid "+strconv.Quote(env.AppID))
		}
		candidates = []*wxcrypt.Crypter{c}
	} else {
		candidates = r.Router.ForAuthorizer(req.Context(), appID)
		if len(candidates) == 0 {
			return nil, nil, reject(http.StatusNotFound, "platform", "no platform configured")
		}
	}
	// The signature tells the platforms apart: each has its own token.
	var last error
	for _, c := range candidates {
		plain, err := c.Open(sig, ts, nonce, env.Encrypt)
		if err == nil {
			return plain, c, nil
		}
		last = err
		var we *wxcrypt.Error
		if errors.As(err, &we) && we.Step != wxcrypt.StepSignature {
			break // signed by this platform, but broken: no other will do better
		}
	}
	var we *wxcrypt.Error
	if errors.As(last, &we) {
		return nil, nil, reject(http.StatusForbidden, we.Step, we.Detail)
	}
	return nil, nil, reject(http.StatusForbidden, "decrypt", "cannot open the message")
}

// checkTimestamp refuses a timestamp further than MaxSkew from our clock: a
// recorded push or URL check replayed later is refused.
func (r *Receiver) checkTimestamp(ts string) *rejection {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return reject(http.StatusBadRequest, "timestamp", "timestamp is not a number")
	}
	if skew := r.Now().Sub(time.Unix(sec, 0)); skew > MaxSkew || skew < -MaxSkew {
		return reject(http.StatusBadRequest, "timestamp", "timestamp is "+skew.Round(time.Second).String()+" off our clock (limit 5m)")
	}
	return nil
}

// echo answers WeChat's GET URL check: the plain signature over token,
// timestamp and nonce, then the echostr verbatim. Its timestamp must be as
// fresh as a push's, or a recorded check could be replayed forever.
func (r *Receiver) echo(w http.ResponseWriter, req *http.Request, appID string) {
	q := req.URL.Query()
	if rej := r.checkTimestamp(q.Get("timestamp")); rej != nil {
		r.refuse(w, req, "echo", rej)
		return
	}
	var candidates []*wxcrypt.Crypter
	if appID != "" {
		candidates = r.Router.ForAuthorizer(req.Context(), appID)
	} else if c, ok := r.Router.Component(q.Get("appid")); ok {
		candidates = []*wxcrypt.Crypter{c}
	} else {
		candidates = r.Router.ForAuthorizer(req.Context(), "")
	}
	for _, c := range candidates {
		if c.VerifyPlain(q.Get("signature"), q.Get("timestamp"), q.Get("nonce")) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, q.Get("echostr"))
			return
		}
	}
	r.refuse(w, req, "echo", reject(http.StatusForbidden, "signature", "signature does not match"))
}

func (r *Receiver) refuse(w http.ResponseWriter, req *http.Request, endpoint string, rej *rejection) {
	// One line per refused push, naming the failed step; never the body or a secret.
	r.Logger.Warn("push refused", "endpoint", endpoint, "path", req.URL.Path, "step", rej.step,
		"detail", rej.detail, "status", rej.status, "remote", req.RemoteAddr)
	if r.Count != nil {
		r.Count(endpoint, "", "rejected")
	}
	http.Error(w, "push refused: "+rej.step+": "+rej.detail, rej.status)
}

func (r *Receiver) fail(w http.ResponseWriter, endpoint, typ, step string, err error) {
	r.Logger.Error("push not processed; WeChat will retry", "endpoint", endpoint, "type", typ, "step", step, "err", err)
	if r.Count != nil {
		r.Count(endpoint, typ, "failed")
	}
	http.Error(w, "temporarily unable to process the push", http.StatusInternalServerError)
}

func (r *Receiver) count(endpoint, typ string, inserted bool) {
	if r.Count == nil {
		return
	}
	result := "accepted"
	if !inserted {
		result = "duplicate"
	}
	r.Count(endpoint, typ, result)
}

func nonce() string {
	var b [8]byte
	rand.Read(b[:])
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte('0' + c%10)
	}
	return sb.String()
}

// RegisterRoutes adds the two push endpoints to mux. They are verified by
// WeChat's signature, not by the admin token.
func (r *Receiver) RegisterRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/wechat/component", r.ServeComponent)
	mux.HandleFunc("/wechat/apps/{appid}", func(w http.ResponseWriter, req *http.Request) {
		r.ServeApp(w, req, req.PathValue("appid"))
	})
}
