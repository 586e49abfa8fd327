package sandbox

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"testing"
)

// A delivered subscribe message is reported by subscribe_msg_sent_event
// with the msgid the send answered; a user who switches a template off in
// the settings makes WeChat push subscribe_msg_change_event (reject) and
// refuse the sends (43101) even of what they had accepted; switching it on
// again pushes nothing and grants nothing until the popup is accepted anew.
func TestSubscribeSentAndChangeEvents(t *testing.T) {
	e := newCapEnv(t)
	out := e.wx("/wxaapi/newtmpl/addtemplate?access_token="+e.access, map[string]any{"tid": "1001", "kidList": []int{1, 2, 3}})
	wantErr(t, out, 0)
	order := str(out, "priTmplId")
	send := func() map[string]any {
		return e.wx("/cgi-bin/message/subscribe/send?access_token="+e.access, map[string]any{"touser": e.openid, "template_id": order,
			"data": map[string]any{"thing1": map[string]string{"value": "宫保鸡丁"}, "character_string2": map[string]string{"value": "A1"},
				"time3": map[string]string{"value": "12:30"}}})
	}
	control := func(path string, accept bool) map[string]any {
		st, out := e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/"+path, map[string]any{"openid": e.openid, "template_ids": []string{order}, "accept": accept})
		if st != 200 {
			t.Fatalf("%s: HTTP %d %v", path, st, out)
		}
		return out
	}
	control("subscribe", true)
	control("subscribe", true)
	waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")

	res := send()
	wantErr(t, res, 0)
	in := waitFor(t, e.plat.messages, "Event", "subscribe_msg_sent_event")
	var sent struct {
		List []struct {
			TemplateID string `xml:"TemplateId"`
			MsgID      string `xml:"MsgID"`
			Code       string `xml:"ErrorCode"`
			Status     string `xml:"ErrorStatus"`
		} `xml:"SubscribeMsgSentEvent>List"`
	}
	if err := xml.Unmarshal(in.Plain, &sent); err != nil || len(sent.List) != 1 || sent.List[0].TemplateID != order ||
		sent.List[0].MsgID != fmt.Sprint(res["msgid"]) || sent.List[0].Code != "0" || sent.List[0].Status != "success" ||
		in.Fields["FromUserName"] != e.openid || in.Fields["MsgType"] != "event" {
		t.Fatalf("sent push = %s (%v), send answered %v", in.Plain, err, res)
	}

	// Off in the settings: one accept is left, yet the send is refused.
	off := control("subscribe-settings", false)
	if off["pushed"] != true || fmt.Sprint(off["status"]) != "200" {
		t.Errorf("settings off answered %v", off)
	}
	in = waitFor(t, e.plat.messages, "Event", "subscribe_msg_change_event")
	var change struct {
		List []struct {
			TemplateID string `xml:"TemplateId"`
			Status     string `xml:"SubscribeStatusString"`
		} `xml:"SubscribeMsgChangeEvent>List"`
	}
	if err := xml.Unmarshal(in.Plain, &change); err != nil || len(change.List) != 1 || change.List[0].TemplateID != order ||
		change.List[0].Status != "reject" || in.Fields["FromUserName"] != e.openid {
		t.Fatalf("change push = %s (%v)", in.Plain, err)
	}
	wantErr(t, send(), 43101)
	// While off, the popup refuses without asking.
	control("subscribe", true)
	in = waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")
	var popup struct {
		Status string `xml:"SubscribeMsgPopupEvent>List>SubscribeStatusString"`
	}
	if xml.Unmarshal(in.Plain, &popup); popup.Status != "reject" {
		t.Errorf("popup while off = %s", in.Plain)
	}
	wantErr(t, send(), 43101)

	// On again: nothing is pushed, nothing is granted.
	if on := control("subscribe-settings", true); on["pushed"] != false {
		t.Errorf("settings on answered %v, want no push", on)
	}
	wantErr(t, send(), 43101)
	control("subscribe", true)
	waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")
	wantErr(t, send(), 0)

	if st, _ := e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/subscribe-settings",
		map[string]any{"openid": e.openid, "template_ids": []string{"nope"}}); st != 400 {
		t.Errorf("settings of an unknown template: HTTP %d, want 400", st)
	}
}

// Entering the customer-service session (user_enter_tempsession) allows 2
// messages within a minute, on top of what the user's last message allows:
// a third is 45047, and once the minute is over (the message's 48 h long
// gone) 45015.
func TestCustomSendSessionEntryAllowance(t *testing.T) {
	e := newCapEnv(t)
	e.advance("49h") // the user's first message no longer allows anything
	e.renew()
	wantErr(t, e.send(customText(e.openid, "在吗")), 45015)
	e.userMessage(AppBakery, map[string]any{"openid": e.openid, "msgtype": "event", "event": "user_enter_tempsession"})
	for i := range entryServiceLimit {
		wantErr(t, e.send(customText(e.openid, fmt.Sprint("欢迎", i+1))), 0)
	}
	wantErr(t, e.send(customText(e.openid, "第三条")), 45047)
	e.userMessage(AppBakery, map[string]any{"openid": e.openid, "msgtype": "event", "event": "user_enter_tempsession"})
	wantErr(t, e.send(customText(e.openid, "又来了")), 0)
	e.advance("61s")
	wantErr(t, e.send(customText(e.openid, "还在吗")), 45015)
	// A message allows its 5 again, whatever the entry allowed.
	e.userMessage(AppBakery, map[string]any{"openid": e.openid, "content": "我想问一下"})
	for range customerServiceLimit {
		wantErr(t, e.send(customText(e.openid, "请讲")), 0)
	}
	wantErr(t, e.send(customText(e.openid, "第六条")), 45047)
}

// 45047 is the customer-service count limit: 5 messages after each message
// of the user, counted again from the next one. Subscribe messages have no
// such limit (WeChat does not answer 45047 to subscribe/send).
func TestCustomSendCountLimit(t *testing.T) {
	e := newCapEnv(t)
	for i := range customerServiceLimit {
		wantErr(t, e.send(customText(e.openid, fmt.Sprint("第", i+1, "条"))), 0)
	}
	wantErr(t, e.send(customText(e.openid, "第六条")), 45047)
	wantErr(t, e.send(customText(e.openid, "第六条")), 45047)
	e.userMessage(AppBakery, map[string]any{"openid": e.openid, "content": "收到"})
	wantErr(t, e.send(customText(e.openid, "好的")), 0)
	// The errmsg is WeChat's.
	for range customerServiceLimit - 1 {
		wantErr(t, e.send(customText(e.openid, "再来")), 0)
	}
	if out := e.send(customText(e.openid, "超了")); str(out, "errmsg") == "" || fmt.Sprint(out["errcode"]) != "45047" {
		t.Errorf("over the limit: %v", out)
	}
}
