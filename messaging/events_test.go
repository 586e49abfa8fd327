package messaging

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// eventPush builds a push of a subscribe event whose <List> items are inner.
func eventPush(t *testing.T, id int64, event, wrapper, inner string) push.Push {
	t.Helper()
	msg, err := push.ParseMessage([]byte(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oUSER]]></FromUserName>` +
		`<CreateTime>1760000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[` + event + `]]></Event><` + wrapper + `>` +
		inner + `</` + wrapper + `></xml>`))
	if err != nil {
		t.Fatal(err)
	}
	return push.Push{Event: &wxfleet.Event{ComponentAppID: comp, AppID: app, DedupKey: fmt.Sprint("e:", id)}, Message: msg}
}

func changePush(t *testing.T, id int64, tmpl, status string) push.Push {
	return eventPush(t, id, "subscribe_msg_change_event", "SubscribeMsgChangeEvent",
		`<List><TemplateId><![CDATA[`+tmpl+`]]></TemplateId><SubscribeStatusString><![CDATA[`+status+`]]></SubscribeStatusString></List>`)
}

func sentPush(t *testing.T, id int64, tmpl, msgID, code, status string) push.Push {
	return eventPush(t, id, "subscribe_msg_sent_event", "SubscribeMsgSentEvent",
		`<List><TemplateId><![CDATA[`+tmpl+`]]></TemplateId><MsgID>`+msgID+`</MsgID><ErrorCode>`+code+
			`</ErrorCode><ErrorStatus><![CDATA[`+status+`]]></ErrorStatus></List>`)
}

// A user who set a template to 拒收 in the settings loses what they
// granted and is refused locally (naming the settings and 43101) until they
// accept in the popup again; a delivery report lands on the message record
// whether it is filed after the message or before it.
func TestSubscribeChangeAndSentEvents(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		e := newEnv(t, b)
		if err := e.st.PutSubscribeTemplate(e.ctx, wxfleet.SubscribeTemplate{ComponentAppID: comp, AppID: app, TemplateID: "T1", Title: "通知", Type: 2}, t0); err != nil {
			t.Fatal(err)
		}
		file := func(ps ...push.Push) {
			t.Helper()
			for _, p := range ps {
				if _, err := e.s.handlePush(e.ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			e.s.theFiler().flush(e.ctx)
		}
		send := func() (int64, error) {
			return e.s.SendSubscribe(e.ctx, comp, app, SubscribeSend{OpenID: "oUSER", TemplateID: "T1", Data: map[string]string{"thing1": "x"}})
		}
		const path = "/cgi-bin/message/subscribe/send"
		file(popupPush(1, "T1", "accept"), popupPush(2, "T1", "accept"), popupPush(3, "T1", "accept"))

		e.wx.set(path, `{"errcode":0,"errmsg":"ok","msgid":501}`)
		if _, err := send(); err != nil {
			t.Fatal(err)
		}
		// The report of 501 comes after the message was stored; the report
		// of 502 before (it is filed first, the send answers later).
		file(sentPush(t, 4, "T1", "501", "0", "success"), sentPush(t, 5, "T1", "502", "1", "failed: system failed"))
		e.wx.set(path, `{"errcode":0,"errmsg":"ok","msgid":502}`)
		if _, err := send(); err != nil {
			t.Fatal(err)
		}
		msgs, err := e.st.ConversationMessages(e.ctx, wxfleet.Scope{}, comp, app, "oUSER", 0, 10)
		if err != nil || len(msgs) != 2 {
			t.Fatalf("messages = %+v, %v", msgs, err)
		}
		got := map[string]*wxfleet.SubscribeDelivery{}
		for _, m := range msgs {
			got[m.WeChatMsgID] = m.Delivery
		}
		if d := got["501"]; d == nil || d.ErrorCode != 0 || d.ErrorStatus != "success" {
			t.Errorf("delivery of 501 = %+v", d)
		}
		if d := got["502"]; d == nil || d.ErrorCode != 1 || d.ErrorStatus != "failed: system failed" {
			t.Errorf("delivery of 502 = %+v", d)
		}

		// One accept is left; the user turns T1 off in the settings (pushed
		// twice: applied once).
		file(changePush(t, 6, "T1", "reject"), changePush(t, 6, "T1", "reject"))
		calls := e.wx.count(path)
		_, err = send()
		if wxfleet.ErrorCode(err) != wxfleet.EFORBIDDEN || !strings.Contains(err.Error(), "43101") || !strings.Contains(err.Error(), "拒收") {
			t.Fatalf("after the settings' 拒收: %v", err)
		}
		if e.wx.count(path) != calls {
			t.Fatal("the refusal called WeChat")
		}
		cs, err := e.st.Consents(e.ctx, wxfleet.Scope{}, comp, app, "oUSER")
		if err != nil || len(cs) != 1 || cs[0].RefusedAt.IsZero() || cs[0].Remaining != 0 {
			t.Fatalf("consents = %+v, %v", cs, err)
		}
		// An accept in a change event lifts the refusal but grants nothing.
		file(changePush(t, 7, "T1", "accept"))
		if _, err = send(); wxfleet.ErrorCode(err) != wxfleet.EFORBIDDEN || strings.Contains(err.Error(), "拒收") {
			t.Fatalf("after the change's accept: %v", err)
		}
		// The popup's accept grants again.
		file(changePush(t, 8, "T1", "reject"), popupPush(9, "T1", "accept"))
		e.wx.set(path, `{"errcode":0,"errmsg":"ok","msgid":503}`)
		if _, err := send(); err != nil {
			t.Fatalf("after a new accept: %v", err)
		}
	})
}

func TestParseSentAcceptsWeChatsVariants(t *testing.T) {
	got, err := parseSent(`<List><TemplateId>A</TemplateId><MsgID>1</MsgID><ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List>` +
		`<List><TemplateId>B</TemplateId><MsgId>2</MsgId><ErrorCode>x</ErrorCode></List><List><TemplateId>C</TemplateId></List>`)
	want := []store.SubscribeDeliveryReport{{TemplateID: "A", MsgID: "1", ErrorStatus: "success"}, {TemplateID: "B", MsgID: "2", ErrorCode: -1}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("parseSent = %+v, %v; want %+v", got, err, want)
	}
}
