package messaging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/wechat"
)

const (
	comp = "wxc0ffee0000000001"
	app  = "wx1234567890abcdef"
)

var t0 = time.UnixMilli(1_760_000_000_000).UTC()

// fakeWeChat answers each API path with the JSON the test sets, and counts
// the calls: the edge of these tests (the sandbox plays WeChat end to end in
// cmd/wxfleet).
type fakeWeChat struct {
	mu      sync.Mutex
	answers map[string]string
	calls   map[string]int
	bodies  map[string]string
}

func (f *fakeWeChat) set(path, answer string) {
	f.mu.Lock()
	f.answers[path] = answer
	f.mu.Unlock()
}

func (f *fakeWeChat) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func (f *fakeWeChat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.calls[r.URL.Path]++
	f.bodies[r.URL.Path] = string(body)
	a, ok := f.answers[r.URL.Path]
	f.mu.Unlock()
	if !ok {
		a = `{"errcode":0,"errmsg":"ok"}`
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, a)
}

type staticTokens struct{}

func (staticTokens) AuthorizerSource(string, string) wechat.TokenSource {
	return wechat.StaticToken("tok")
}

type env struct {
	s   *Service
	st  *store.Store
	wx  *fakeWeChat
	now time.Time
	ctx context.Context
}

func newEnv(t *testing.T, b storetest.Backend) *env {
	st := b.New(t)
	ctx := t.Context()
	if err := st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: comp, Name: "平台", Token: "token", AESKey: wxfleet.Secret(strings.Repeat("k", 43)), Secret: "secret"}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: comp, AppID: app, Nickname: "面包店", UserName: "gh_1",
		IsMiniProgram: true, Status: wxfleet.StatusAuthorized, Permissions: []int{19}, AccessToken: "a", RefreshToken: "r",
		TokenExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wx := &fakeWeChat{answers: map[string]string{}, calls: map[string]int{}, bodies: map[string]string{}}
	srv := httptest.NewServer(wx)
	t.Cleanup(srv.Close)
	e := &env{st: st, wx: wx, now: t0, ctx: ctx}
	e.s = &Service{Store: st, WeChat: wechat.New(wechat.Options{Hosts: wechat.SingleHost(srv.URL), Retries: -1}),
		Tokens: staticTokens{}, Now: func() time.Time { return e.now }, Logger: slog.New(slog.DiscardHandler)}
	return e
}

func TestReplyWindowIsCheckedBeforeWeChat(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		msg, err := push.ParseMessage([]byte(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName>` +
			`<CreateTime>1760000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[在吗]]></Content><MsgId>1</MsgId></xml>`))
		if err != nil {
			t.Fatal(err)
		}
		p := push.Push{Event: &wxfleet.Event{ComponentAppID: comp, AppID: app, DedupKey: "m:1", ReceivedAt: t0}, Message: msg}
		for range 2 { // WeChat's retry is filed once
			if _, err := e.s.handlePush(e.ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		e.s.theFiler().flush(e.ctx)
		text := Reply{MsgType: "text", Text: &wechat.CustomText{Content: "在的"}}
		e.now = t0.Add(47 * time.Hour)
		if _, err := e.s.Send(e.ctx, comp, app, "oUSER", text); err != nil {
			t.Fatalf("inside the window: %v", err)
		}
		e.now = t0.Add(48*time.Hour + time.Second)
		_, err = e.s.Send(e.ctx, comp, app, "oUSER", text)
		if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT || !strings.Contains(err.Error(), "45015") {
			t.Fatalf("after 48 h: %v, want a conflict naming 45015", err)
		}
		_, err = e.s.Send(e.ctx, comp, app, "oSTRANGER", text)
		if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
			t.Fatalf("to a stranger: %v", err)
		}
		if n := e.wx.count("/cgi-bin/message/custom/send"); n != 1 {
			t.Fatalf("WeChat got %d sends, want 1: the refusals are the platform's own", n)
		}
		c, err := e.st.Conversation(e.ctx, wxfleet.Scope{}, comp, app, "oUSER")
		if err != nil || c.Messages != 2 || !c.LastUserAt.Equal(time.Unix(1760000000, 0)) {
			t.Fatalf("conversation = %+v, %v", c, err)
		}
		// WeChat's own refusal comes back with its code.
		e.now = t0.Add(time.Hour)
		e.wx.set("/cgi-bin/message/custom/send", `{"errcode":45047,"errmsg":"out of response count limit rid: 1-2-3"}`)
		_, err = e.s.Send(e.ctx, comp, app, "oUSER", text)
		if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT || !strings.Contains(err.Error(), "45047") {
			t.Fatalf("WeChat's refusal: %v", err)
		}
	})
}

// TestSessionEntryOpensAMinute: a user who only entered the customer-service
// session may be answered for a minute, not 48 hours; one who also wrote
// (even long before the entry) for the message's 48 hours.
func TestSessionEntryOpensAMinute(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		file := func(key, openid, body string, at int64) {
			t.Helper()
			msg, err := push.ParseMessage([]byte(fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>`+
				`<CreateTime>%d</CreateTime>%s</xml>`, openid, at, body)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.s.handlePush(e.ctx, push.Push{Event: &wxfleet.Event{ComponentAppID: comp, AppID: app, DedupKey: key, ReceivedAt: t0}, Message: msg}); err != nil {
				t.Fatal(err)
			}
			e.s.theFiler().flush(e.ctx)
		}
		const entry = `<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[user_enter_tempsession]]></Event><SessionFrom><![CDATA[]]></SessionFrom>`
		at := t0.Unix()
		file("e:1", "oENTERED", entry, at)
		text := Reply{MsgType: "text", Text: &wechat.CustomText{Content: "欢迎光临"}}
		e.now = t0.Add(50 * time.Second)
		if _, err := e.s.Send(e.ctx, comp, app, "oENTERED", text); err != nil {
			t.Fatalf("50 s after the entry: %v", err)
		}
		e.now = t0.Add(2 * time.Minute)
		_, err := e.s.Send(e.ctx, comp, app, "oENTERED", text)
		if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT || !strings.Contains(err.Error(), "45015") || !strings.Contains(err.Error(), "1 分钟") {
			t.Fatalf("2 min after an entry alone: %v, want a conflict naming the minute and 45015", err)
		}
		// A user who wrote an hour before entering: the message's 48 hours hold.
		file("m:2", "oWROTE", `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[有货吗]]></Content><MsgId>2</MsgId>`, at)
		file("e:3", "oWROTE", entry, at+3600)
		e.now = t0.Add(3 * time.Hour)
		if _, err := e.s.Send(e.ctx, comp, app, "oWROTE", text); err != nil {
			t.Fatalf("3 h after a message: %v", err)
		}
		if n := e.wx.count("/cgi-bin/message/custom/send"); n != 2 {
			t.Fatalf("WeChat got %d sends, want 2: the refusal is the platform's own", n)
		}
	})
}

func popupPush(id int64, items ...string) push.Push {
	var b strings.Builder
	b.WriteString(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName><CreateTime>1760000000</CreateTime>` +
		`<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_popup_event]]></Event><SubscribeMsgPopupEvent>`)
	for i := 0; i < len(items); i += 2 {
		b.WriteString(`<List><TemplateId><![CDATA[` + items[i] + `]]></TemplateId><SubscribeStatusString><![CDATA[` + items[i+1] +
			`]]></SubscribeStatusString><PopupScene>0</PopupScene></List>`)
	}
	b.WriteString(`</SubscribeMsgPopupEvent></xml>`)
	msg, err := push.ParseMessage([]byte(b.String()))
	if err != nil {
		panic(err)
	}
	return push.Push{Event: &wxfleet.Event{ComponentAppID: comp, AppID: app, DedupKey: fmt.Sprint("e:", id)}, Message: msg}
}

func TestSubscribeConsentBookkeeping(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		for _, id := range []string{"T1", "T2"} {
			if err := e.st.PutSubscribeTemplate(e.ctx, wxfleet.SubscribeTemplate{ComponentAppID: comp, AppID: app, TemplateID: id, Title: "通知", Type: 2}, t0); err != nil {
				t.Fatal(err)
			}
		}
		send := func(tmpl string) error {
			_, err := e.s.SendSubscribe(e.ctx, comp, app, SubscribeSend{OpenID: "oUSER", TemplateID: tmpl, Data: map[string]string{"thing1": "x"}})
			return err
		}
		const path = "/cgi-bin/message/subscribe/send"
		if err := send("T1"); wxfleet.ErrorCode(err) != wxfleet.EFORBIDDEN || !strings.Contains(err.Error(), "43101") {
			t.Fatalf("without consent: %v", err)
		}
		// One popup accepts T1 twice over two pushes and refuses T2; the
		// second push delivered twice counts once.
		for _, p := range []push.Push{popupPush(1, "T1", "accept", "T2", "reject"), popupPush(2, "T1", "accept"), popupPush(2, "T1", "accept")} {
			if _, err := e.s.handlePush(e.ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		e.s.theFiler().flush(e.ctx)
		if err := send("T2"); wxfleet.ErrorCode(err) != wxfleet.EFORBIDDEN {
			t.Fatalf("refused template: %v", err)
		}
		// WeChat refuses the data: the consent is given back.
		e.wx.set(path, `{"errcode":47003,"errmsg":"argument invalid! rid: 1"}`)
		if err := send("T1"); wxfleet.ErrorCode(err) != wxfleet.ECONFLICT || !strings.Contains(err.Error(), "47003") {
			t.Fatalf("bad data: %v", err)
		}
		e.wx.set(path, `{"errcode":0,"errmsg":"ok","msgid":77}`)
		if err := send("T1"); err != nil {
			t.Fatal(err)
		}
		// WeChat says the user has none left (they cancelled): ours are dropped too.
		e.wx.set(path, `{"errcode":43101,"errmsg":"user refuse to accept the msg rid: 1"}`)
		if err := send("T1"); wxfleet.ErrorCode(err) != wxfleet.ECONFLICT || !strings.Contains(err.Error(), "43101") {
			t.Fatalf("WeChat's 43101: %v", err)
		}
		e.wx.set(path, `{"errcode":0,"errmsg":"ok","msgid":78}`)
		if err := send("T1"); wxfleet.ErrorCode(err) != wxfleet.EFORBIDDEN {
			t.Fatalf("after WeChat's 43101: %v", err)
		}
		if n := e.wx.count(path); n != 3 {
			t.Fatalf("WeChat got %d sends, want 3", n)
		}
		msgs, _ := e.st.ConversationMessages(e.ctx, wxfleet.Scope{}, comp, app, "oUSER", 0, 10)
		if len(msgs) != 1 || msgs[0].MsgType != "subscribe" || !strings.Contains(msgs[0].Content, "thing1=x") {
			t.Fatalf("filed messages = %+v", msgs)
		}
	})
}

func TestApplyAdoptsTheTemplateALostAnswerAdded(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		e.wx.set("/wxaapi/newtmpl/gettemplate", `{"errcode":0,"errmsg":"ok","data":[`+
			`{"priTmplId":"OTHER","title":"别的","content":"订单号:{{character_string2.DATA}}\n","type":2},`+
			`{"priTmplId":"MINE","title":"订单配送通知","content":"订单内容:{{thing1.DATA}}\n订单号:{{character_string2.DATA}}\n","type":2}]}`)
		w := &ApplyWorker{Service: e.s}
		a := &wxfleet.SubscribeApply{ComponentAppID: comp, TID: 1001, KIDs: []int{1, 2},
			Keywords: []wxfleet.SubscribeKeyword{{Name: "订单内容", Key: "thing1"}, {Name: "订单号", Key: "character_string2"}}}
		id, err := w.add(e.ctx, a, app, true)
		if err != nil || id != "MINE" || e.wx.count("/wxaapi/newtmpl/addtemplate") != 0 {
			t.Fatalf("retry: %q, %v, %d adds", id, err, e.wx.count("/wxaapi/newtmpl/addtemplate"))
		}
		if got, err := e.st.SubscribeTemplate(e.ctx, comp, app, "MINE"); err != nil || got.TID != 1001 {
			t.Fatalf("adopted = %+v, %v", got, err)
		}
		// A first attempt adds without asking.
		e.wx.set("/wxaapi/newtmpl/addtemplate", `{"errcode":0,"errmsg":"ok","priTmplId":"NEW"}`)
		if id, err := w.add(e.ctx, a, app, false); err != nil || id != "NEW" || e.wx.count("/wxaapi/newtmpl/addtemplate") != 1 {
			t.Fatalf("first attempt: %q, %v", id, err)
		}
	})
}

func TestSameKeywords(t *testing.T) {
	kws := []wxfleet.SubscribeKeyword{{Name: "订单内容", Key: "thing1"}, {Name: "订单号", Key: "character_string2"}}
	for content, want := range map[string]bool{
		"订单内容:{{thing1.DATA}}\n订单号:{{character_string2.DATA}}\n": true,
		"订单号：{{character_string2.DATA}}\n订单内容：{{thing1.DATA}}":   true,
		"订单内容:{{thing1.DATA}}\n":                                 false,
		"订单内容:{{thing1.DATA}}\n订单号:{{character_string3.DATA}}\n": false,
		"": false,
	} {
		if got := sameKeywords(content, kws); got != want {
			t.Errorf("sameKeywords(%q) = %v, want %v", content, got, want)
		}
	}
}

// What the filer never got (a crash between the acknowledgement and the
// write) the catch-up files from the stored events, once.
func TestCatchUpFilesTheStoredPushes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		var evs []*wxfleet.Event
		for i := range 3 {
			evs = append(evs, &wxfleet.Event{ComponentAppID: comp, AppID: app, Type: "text", DedupKey: fmt.Sprint("m:", i),
				CreateTime: t0, ReceivedAt: t0, Payload: []byte(fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName>`+
					`<FromUserName><![CDATA[oUSER]]></FromUserName><CreateTime>1760000000</CreateTime><MsgType><![CDATA[text]]></MsgType>`+
					`<Content><![CDATA[第 %d 条]]></Content><MsgId>%d</MsgId></xml>`, i, i))})
		}
		evs = append(evs, &wxfleet.Event{ComponentAppID: comp, AppID: app, Type: "weapp_audit_success", DedupKey: "e:x",
			ReceivedAt: t0, Payload: []byte(`<xml><MsgType>event</MsgType><Event>weapp_audit_success</Event></xml>`)})
		if _, err := e.st.InsertEvents(e.ctx, evs); err != nil {
			t.Fatal(err)
		}
		// The filer got the first one already.
		msg, _ := push.ParseMessage(evs[0].Payload)
		e.s.handlePush(e.ctx, push.Push{Event: evs[0], Message: msg})
		e.s.theFiler().flush(e.ctx)
		for range 2 {
			if err := e.s.CatchUp(e.ctx); err != nil {
				t.Fatal(err)
			}
		}
		c, err := e.st.Conversation(e.ctx, wxfleet.Scope{}, comp, app, "oUSER")
		if err != nil || c.Messages != 3 {
			t.Fatalf("conversation = %+v, %v: want 3 messages, each once", c, err)
		}
		if cur, _ := e.st.MessagingCursor(e.ctx); cur < evs[2].ID {
			t.Fatalf("cursor %d, want at least %d", cur, evs[2].ID)
		}
	})
}
