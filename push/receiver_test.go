package push

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wxcrypt"
)

const testKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

// memStore is an EventStore in memory with the store's dedup contract.
type memStore struct {
	mu     sync.Mutex
	events []*wxfleet.Event
	keys   map[string]bool
	fail   error
}

func (m *memStore) InsertEvents(ctx context.Context, evs []*wxfleet.Event) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	out := make([]bool, len(evs))
	for i, ev := range evs {
		k := ev.ComponentAppID + "|" + ev.DedupKey
		if m.keys[k] {
			continue
		}
		m.keys[k] = true
		m.events = append(m.events, ev)
		out[i] = true
	}
	return out, nil
}

type oneRouter struct{ c *wxcrypt.Crypter }

func (r oneRouter) Component(id string) (*wxcrypt.Crypter, bool) { return r.c, id == r.c.AppID() }
func (r oneRouter) ForAuthorizer(context.Context, string) []*wxcrypt.Crypter {
	return []*wxcrypt.Crypter{r.c}
}

type recorder struct {
	mu        sync.Mutex
	component []bool // inserted flags seen
	reply     []byte
	fail      error
}

func (h *recorder) Component(ctx context.Context, ev *wxfleet.Event, msg Message, inserted bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.component = append(h.component, inserted)
	return h.fail
}

func (h *recorder) Message(ctx context.Context, ev *wxfleet.Event, msg Message, inserted bool) ([]byte, error) {
	return h.reply, h.fail
}

type rig struct {
	c     *wxcrypt.Crypter
	store *memStore
	h     *recorder
	srv   *httptest.Server
	now   time.Time
}

func newRig(t *testing.T) *rig {
	r := &rig{h: &recorder{}}
	return newRigWith(t, r, r.h, slog.New(slog.DiscardHandler))
}

// newRigWith serves a real receiver with handler h, recording into memory.
func newRigWith(t *testing.T, r *rig, h Handler, logger *slog.Logger) *rig {
	r.c, _ = wxcrypt.New("tok", testKey, "wxcomponent")
	r.store, r.now = &memStore{keys: map[string]bool{}}, time.Now()
	committer := NewCommitter(r.store, 16, nil)
	recv := &Receiver{Router: oneRouter{r.c}, Recorder: committer, Handler: h,
		Now: func() time.Time { return r.now }, Logger: logger}
	mux := http.NewServeMux()
	recv.RegisterRoutes(mux)
	r.srv = httptest.NewServer(mux)
	t.Cleanup(func() { r.srv.Close(); committer.Close() })
	return r
}

// send posts msg as WeChat would, sealed at ts.
func (r *rig) send(t *testing.T, path, msg string, ts time.Time) (int, string) {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	enc, sig, err := r.c.Seal([]byte(msg), stamp, "123")
	if err != nil {
		t.Fatal(err)
	}
	body := wxcrypt.ComponentEnvelope("wxcomponent", enc)
	q := url.Values{"timestamp": {stamp}, "nonce": {"123"}, "msg_signature": {sig}, "encrypt_type": {"aes"},
		"signature": {r.c.PlainSignature(stamp, "123")}}
	resp, err := http.Post(r.srv.URL+path+"?"+q.Encode(), "text/xml", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const ticketPush = `<xml><AppId><![CDATA[wxcomponent]]></AppId><CreateTime>1700000000</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[ticket@@@secret]]></ComponentVerifyTicket></xml>`

func TestComponentPushStoredOnceAndAcked(t *testing.T) {
	r := newRig(t)
	for i := 0; i < 3; i++ { // WeChat retries the same push
		if st, body := r.send(t, "/wechat/component", ticketPush, r.now); st != 200 || body != "success" {
			t.Fatalf("attempt %d: %d %q", i, st, body)
		}
	}
	if len(r.store.events) != 1 {
		t.Fatalf("stored %d events, want 1", len(r.store.events))
	}
	ev := r.store.events[0]
	if ev.Type != "component_verify_ticket" || ev.ComponentAppID != "wxcomponent" || ev.CreateTime.Unix() != 1700000000 {
		t.Errorf("event = %+v", ev)
	}
	if strings.Contains(string(ev.Payload), "ticket@@@secret") {
		t.Errorf("stored payload keeps the ticket: %s", ev.Payload)
	}
	// The handler ran for every attempt (idempotent), told which one was new.
	if fmt.Sprint(r.h.component) != "[true false false]" {
		t.Errorf("handler saw inserted = %v", r.h.component)
	}
}

func TestRefusedPushesAreNotStored(t *testing.T) {
	r := newRig(t)
	if st, _ := r.send(t, "/wechat/component", ticketPush, r.now.Add(-6*time.Minute)); st != 400 {
		t.Errorf("stale push: %d", st)
	}
	if st, _ := r.send(t, "/wechat/component", ticketPush, r.now.Add(6*time.Minute)); st != 400 {
		t.Errorf("future push: %d", st)
	}
	if st, _ := r.send(t, "/wechat/component", "not xml at all", r.now); st != 400 {
		t.Errorf("non-XML plaintext: %d", st)
	}
	// Signed by someone else.
	other, _ := wxcrypt.New("other-token", testKey, "wxcomponent")
	good := r.c
	r.c = other
	if st, _ := r.send(t, "/wechat/component", ticketPush, r.now); st != 403 {
		t.Errorf("forged push: %d", st)
	}
	r.c = good
	big := strings.Repeat("x", MaxBody)
	resp, err := http.Post(r.srv.URL+"/wechat/component?timestamp="+strconv.FormatInt(r.now.Unix(), 10)+"&nonce=1&msg_signature=x",
		"text/xml", strings.NewReader("<xml><Encrypt>"+big+"</Encrypt></xml>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("oversized push: %d", resp.StatusCode)
	}
	if len(r.store.events) != 0 {
		t.Fatalf("refused pushes stored: %d", len(r.store.events))
	}
}

func TestStoreFailureIsNotAcked(t *testing.T) {
	r := newRig(t)
	r.store.fail = fmt.Errorf("disk full")
	if st, body := r.send(t, "/wechat/component", ticketPush, r.now); st != 500 || body == "success" {
		t.Fatalf("ack without storing: %d %q", st, body)
	}
	if len(r.h.component) != 0 {
		t.Error("handler ran although nothing was stored")
	}
}

func TestMessagePassiveReplyIsEncrypted(t *testing.T) {
	r := newRig(t)
	r.h.reply = []byte("<xml><Content><![CDATA[hi]]></Content></xml>")
	msg := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[在吗]]></Content><MsgId>42</MsgId></xml>`
	st, body := r.send(t, "/wechat/apps/wxapp", msg, r.now)
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	env, err := wxcrypt.ParseEnvelope([]byte(body))
	if err != nil {
		t.Fatalf("reply is not an envelope: %s", body)
	}
	plain, err := r.c.Open(string(wxcrypt.XMLField([]byte(body), "MsgSignature")), string(wxcrypt.XMLField([]byte(body), "TimeStamp")),
		string(wxcrypt.XMLField([]byte(body), "Nonce")), env.Encrypt)
	if err != nil || string(plain) != string(r.h.reply) {
		t.Fatalf("reply opens to %q, %v", plain, err)
	}
	if len(r.store.events) != 1 || r.store.events[0].Type != "text" || r.store.events[0].AppID != "wxapp" || r.store.events[0].DedupKey != "m:42" {
		t.Fatalf("stored %+v", r.store.events)
	}
}

func TestEventDedupKeyWithoutMsgID(t *testing.T) {
	m, _ := ParseMessage([]byte(`<xml><FromUserName>o1</FromUserName><CreateTime>5</CreateTime><MsgType>event</MsgType><Event>user_enter_tempsession</Event></xml>`))
	n, _ := ParseMessage([]byte(`<xml><FromUserName>o2</FromUserName><CreateTime>5</CreateTime><MsgType>event</MsgType><Event>user_enter_tempsession</Event></xml>`))
	if messageDedupKey(m) == messageDedupKey(n) {
		t.Error("events of two users at the same second share a dedup key")
	}
}

func TestCommitterGroupsConcurrentPushes(t *testing.T) {
	st := &memStore{keys: map[string]bool{}}
	var mu sync.Mutex
	var batches []int
	c := NewCommitter(st, 64, func(n int) { mu.Lock(); batches = append(batches, n); mu.Unlock() })
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ins, err := c.Record(context.Background(), &wxfleet.Event{ComponentAppID: "c", DedupKey: fmt.Sprint(i % 150)})
			if err != nil {
				t.Error(err)
			}
			_ = ins
		}()
	}
	wg.Wait()
	c.Close()
	if len(st.events) != 150 {
		t.Fatalf("stored %d distinct events, want 150", len(st.events))
	}
	total := 0
	for _, n := range batches {
		total += n
	}
	if total != 200 {
		t.Fatalf("batches cover %d events, want 200", total)
	}
	if _, err := c.Record(context.Background(), &wxfleet.Event{}); err != ErrClosed {
		t.Fatalf("Record after Close: %v", err)
	}
}

// echoCheck sends WeChat's GET URL check signed at ts.
func (r *rig) echoCheck(t *testing.T, path string, ts time.Time) (int, string) {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	q := url.Values{"timestamp": {stamp}, "nonce": {"77"}, "echostr": {"hello-echo"}, "signature": {r.c.PlainSignature(stamp, "77")}}
	resp, err := http.Get(r.srv.URL + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A URL check recorded once must not be replayable later: its timestamp is
// held to the window of a push.
func TestURLCheckTimestampWindow(t *testing.T) {
	r := newRig(t)
	for _, path := range []string{"/wechat/component", "/wechat/apps/wxapp"} {
		if st, body := r.echoCheck(t, path, r.now); st != 200 || body != "hello-echo" {
			t.Fatalf("%s fresh check: %d %q", path, st, body)
		}
		for _, off := range []time.Duration{-6 * time.Minute, 6 * time.Minute, -24 * time.Hour} {
			if st, body := r.echoCheck(t, path, r.now.Add(off)); st != 400 || strings.Contains(body, "hello-echo") {
				t.Errorf("%s check %v off: %d %q", path, off, st, body)
			}
		}
	}
}

// A declared body over the cap is refused before it is read: the server
// answers 413 although the client has sent none of it.
func TestOversizedPushRefusedBeforeReading(t *testing.T) {
	r := newRig(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(r.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /wechat/component?timestamp=%d&nonce=1&msg_signature=x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", r.now.Unix(), 50<<20)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
}

// The pre_auth_code of an authorized push is kept out of the stored event:
// auth_links keeps only its digest, and the event must not undo that.
func TestPreAuthCodeKeptOutOfStoredEvents(t *testing.T) {
	r := newRig(t)
	msg := `<xml><AppId><![CDATA[wxcomponent]]></AppId><CreateTime>1700000000</CreateTime><InfoType><![CDATA[authorized]]></InfoType>` +
		`<AuthorizerAppid><![CDATA[wxapp]]></AuthorizerAppid><AuthorizationCode><![CDATA[queryauthcode@@@secret]]></AuthorizationCode>` +
		`<AuthorizationCodeExpiredTime>1700003600</AuthorizationCodeExpiredTime><PreAuthCode><![CDATA[preauthcode@@@secret-pre]]></PreAuthCode></xml>`
	if st, body := r.send(t, "/wechat/component", msg, r.now); st != 200 {
		t.Fatalf("%d %q", st, body)
	}
	p := string(r.store.events[0].Payload)
	if strings.Contains(p, "preauthcode@@@secret-pre") || strings.Contains(p, "queryauthcode@@@secret") || !strings.Contains(p, "<AuthorizerAppid>") {
		t.Fatalf("stored payload: %s", p)
	}
}

// Two subscribe deliveries to one user in one second are two events; a
// retry of one is the same.
func TestSubscribeEventsDedupByTheirLists(t *testing.T) {
	sent := func(msgID string) Message {
		m, err := ParseMessage([]byte(`<xml><ToUserName>gh_1</ToUserName><FromUserName>oU</FromUserName><CreateTime>1700000000</CreateTime>` +
			`<MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List><TemplateId>T</TemplateId>` +
			`<MsgID>` + msgID + `</MsgID><ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List></SubscribeMsgSentEvent></xml>`))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if messageDedupKey(sent("1")) == messageDedupKey(sent("2")) {
		t.Error("two deliveries in one second share a dedup key")
	}
	if messageDedupKey(sent("1")) != messageDedupKey(sent("1")) {
		t.Error("a retry has another dedup key")
	}
}
