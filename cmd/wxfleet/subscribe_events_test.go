package main

import (
	"strconv"
	"strings"
	"testing"
)

// The subscribe events end to end, the sandbox playing WeChat: a delivered
// message's subscribe_msg_sent_event lands on the conversation's message
// (wechat_msgid and delivery); the user's 拒收 from the settings
// (subscribe_msg_change_event) makes the platform refuse the next send
// itself, naming the settings and 43101, though an accept was left; a new
// accept in the popup sends again.
func TestDemoSubscribeEvents(t *testing.T) {
	d := bootDemo(t)
	app := d.miniPrograms()[2].AppID
	d.authorizeApp(app)
	var tpl struct {
		TemplateID string `json:"template_id"`
	}
	if st := d.api("POST", "/api/v1/authorizers/"+app+"/subscribe-templates", map[string]any{"tid": 1001, "kid_list": []int{1, 2, 3}}, &tpl); st != 201 {
		t.Fatalf("add template: HTTP %d", st)
	}
	var sent struct {
		OpenID string `json:"openid"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/user-message", map[string]any{"content": "下单了"}, &sent)
	openid := sent.OpenID
	popup := func(times int) {
		ids := make([]string, times)
		for i := range ids {
			ids[i] = tpl.TemplateID
		}
		d.sandbox("POST", "/sandbox/api/apps/"+app+"/subscribe", map[string]any{"openid": openid, "template_ids": ids, "accept": true}, nil)
	}
	type conversation struct {
		Items []struct {
			MsgType  string `json:"msgtype"`
			MsgID    string `json:"wechat_msgid"`
			Delivery *struct {
				ErrorCode   int    `json:"error_code"`
				ErrorStatus string `json:"error_status"`
			} `json:"delivery"`
		} `json:"items"`
		Consents []struct {
			Remaining int    `json:"remaining"`
			RefusedAt string `json:"refused_at"`
		} `json:"subscribe_consents"`
	}
	read := func() conversation {
		var c conversation
		d.api("GET", "/api/v1/authorizers/"+app+"/conversations/"+openid, nil, &c)
		return c
	}
	popup(2) // one popup, the template asked twice: two sends
	d.eventually("two consents", func() bool { c := read(); return len(c.Consents) == 1 && c.Consents[0].Remaining == 2 })

	msg := map[string]any{"openid": openid, "template_id": tpl.TemplateID,
		"data": map[string]any{"thing1": "宫保鸡丁", "character_string2": "A1", "time3": "12:30"}}
	var ok struct {
		MsgID int64 `json:"msgid"`
	}
	if st := d.api("POST", "/api/v1/authorizers/"+app+"/subscribe-messages", msg, &ok); st != 200 || ok.MsgID == 0 {
		t.Fatalf("send: HTTP %d %+v", st, ok)
	}
	d.eventually("the delivery on the message", func() bool {
		for _, m := range read().Items {
			if m.MsgType == "subscribe" && m.MsgID == strconv.FormatInt(ok.MsgID, 10) && m.Delivery != nil {
				return m.Delivery.ErrorCode == 0 && m.Delivery.ErrorStatus == "success"
			}
		}
		return false
	})

	if _, page := d.console().get("/authorizers/" + app + "/inbox/" + openid + "?platform=" + demoPlatform.AppID); !strings.Contains(page, `data-delivery="0"`) {
		t.Error("the conversation page does not show the message delivered")
	}

	var off struct {
		Pushed bool `json:"pushed"`
		Status int  `json:"status"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/subscribe-settings", map[string]any{"openid": openid, "template_ids": []string{tpl.TemplateID}, "accept": false}, &off)
	if !off.Pushed || off.Status != 200 {
		t.Fatalf("the settings' 拒收 was not delivered: %+v", off)
	}
	d.eventually("the refusal recorded", func() bool { c := read(); return len(c.Consents) == 1 && c.Consents[0].RefusedAt != "" })
	var refused apiErr
	if st := d.api("POST", "/api/v1/authorizers/"+app+"/subscribe-messages", msg, &refused); st != 403 ||
		!strings.Contains(refused.Message, "43101") || !strings.Contains(refused.Message, "拒收") {
		t.Fatalf("send after the settings' 拒收: HTTP %d %+v", st, refused)
	}
	var calls struct {
		Items []struct {
			Errcode int `json:"errcode"`
			Count   int `json:"count"`
		} `json:"items"`
	}
	d.sandbox("GET", "/sandbox/api/calls?path=/cgi-bin/message/subscribe/send", nil, &calls)
	if len(calls.Items) != 1 || calls.Items[0].Count != 1 {
		t.Fatalf("WeChat saw %+v, want the one send (the refusal is the platform's)", calls.Items)
	}
	// Switched on and accepted again: sent.
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/subscribe-settings", map[string]any{"openid": openid, "template_ids": []string{tpl.TemplateID}, "accept": true}, nil)
	popup(1)
	d.eventually("a new consent", func() bool {
		c := read()
		return len(c.Consents) == 1 && c.Consents[0].Remaining == 1 && c.Consents[0].RefusedAt == ""
	})
	if st := d.api("POST", "/api/v1/authorizers/"+app+"/subscribe-messages", msg, &ok); st != 200 {
		t.Fatalf("send after a new accept: HTTP %d", st)
	}
}
