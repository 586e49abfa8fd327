package main

import (
	"fmt"
	"strings"
	"testing"
)

// authorizeApp authorizes one sandbox mini program through a link and waits
// for the platform to have it.
func (d *testDemo) authorizeApp(appid string) {
	d.t.Helper()
	var link struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{}, &link)
	d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": appid}, nil)
	d.eventually("authorized", func() bool {
		a, st := d.authorizer(appid)
		return st == 200 && a.Status == "authorized"
	})
}

type apiErr struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

type sbLogEntry struct {
	Direction string `json:"direction"`
	Via       string `json:"via"`
	OpenID    string `json:"openid"`
	MsgType   string `json:"msgtype"`
	Content   string `json:"content"`
}

func (d *testDemo) userLog(appid, openid string) []sbLogEntry {
	d.t.Helper()
	var out struct {
		Items []sbLogEntry `json:"items"`
	}
	if st := d.sandbox("GET", "/sandbox/api/apps/"+appid+"/user-messages?openid="+openid, nil, &out); st != 200 {
		d.t.Fatalf("user-messages: HTTP %d", st)
	}
	return out.Items
}

// A user writes; the platform files the push in a conversation and answers
// inside the 48-hour window (text, typing, an uploaded image), and the
// sandbox's user sees the answers; past the window (WeChat's clock moved
// 49 h) the reply is refused with WeChat's 45015 named.
func TestDemoCustomerServiceWindow(t *testing.T) { customerServiceWindow(t, bootDemo(t)) }

// TestDemoMessagingOnPostgres runs both capability journeys on PostgreSQL.
func TestDemoMessagingOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	d := bootDemoWith(t, func(o *demoOptions) { o.Database = dsn })
	customerServiceWindow(t, d)
	subscribeMessageConsent(t, d)
}

func customerServiceWindow(t *testing.T, d *testDemo) {
	app := d.miniPrograms()[1].AppID
	d.authorizeApp(app)

	var sent struct {
		OpenID string `json:"openid"`
		Status int    `json:"status"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/user-message", map[string]any{"msgtype": "text", "content": "请问今天营业吗？"}, &sent)
	if sent.Status != 200 || sent.OpenID == "" {
		t.Fatalf("user message: %+v", sent)
	}
	openid := sent.OpenID
	type conv struct {
		Conversation struct {
			OpenID     string `json:"openid"`
			WindowOpen bool   `json:"window_open"`
			Messages   int    `json:"messages"`
		} `json:"conversation"`
		Items []struct {
			Direction string `json:"direction"`
			MsgType   string `json:"msgtype"`
			Content   string `json:"content"`
		} `json:"items"`
	}
	var c conv
	d.eventually("the conversation", func() bool {
		return d.api("GET", "/api/v1/authorizers/"+app+"/conversations/"+openid, nil, &c) == 200
	})
	if !c.Conversation.WindowOpen || len(c.Items) != 1 || c.Items[0].Content != "请问今天营业吗？" || c.Items[0].Direction != "in" {
		t.Fatalf("conversation = %+v", c)
	}
	var list struct {
		Items []struct {
			OpenID string `json:"openid"`
		} `json:"items"`
		Total int `json:"total"`
	}
	if st := d.api("GET", "/api/v1/authorizers/"+app+"/conversations?limit=10", nil, &list); st != 200 || list.Total != 1 || list.Items[0].OpenID != openid {
		t.Fatalf("conversations: %d %+v", st, list)
	}

	base := "/api/v1/authorizers/" + app + "/conversations/" + openid
	if st := d.api("POST", base+"/typing", map[string]any{"command": "Typing"}, nil); st != 200 {
		t.Fatalf("typing: HTTP %d", st)
	}
	if st := d.api("POST", base+"/messages", map[string]any{"msgtype": "text", "text": map[string]string{"content": "营业的，九点到九点"}}, nil); st != 200 {
		t.Fatalf("reply: HTTP %d", st)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
	if st := d.api("POST", base+"/messages", map[string]any{"msgtype": "image", "image": map[string]any{"data": png, "filename": "menu.png"}}, nil); st != 200 {
		t.Fatalf("image reply: HTTP %d", st)
	}
	var got []string
	for _, e := range d.userLog(app, openid) {
		got = append(got, e.Direction+"/"+e.MsgType+"/"+e.Via)
	}
	if want := "[in/text/user out/text/custom_send out/image/custom_send]"; fmt.Sprint(got) != want {
		t.Fatalf("the user's log = %v, want %s", got, want)
	}

	// WeChat's clock moves past the window; the platform's does not, so its
	// own check passes and WeChat's 45015 comes back, named.
	d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "49h"}, nil)
	var refused apiErr
	st := d.api("POST", base+"/messages", map[string]any{"msgtype": "text", "text": map[string]string{"content": "还在吗"}}, &refused)
	if st != 409 || !strings.Contains(refused.Message, "45015") || !strings.Contains(refused.MessageEN, "45015") {
		t.Fatalf("reply after 49 h: HTTP %d %+v, want 409 naming 45015", st, refused)
	}
	if n := len(d.userLog(app, openid)); n != 3 {
		t.Fatalf("the user got %d messages, want still 3", n)
	}
	// A user the mini program never heard from is refused by the platform itself.
	refused = apiErr{}
	st = d.api("POST", "/api/v1/authorizers/"+app+"/conversations/oNOBODY/messages", map[string]any{"msgtype": "text", "text": map[string]string{"content": "hi"}}, &refused)
	if st != 409 || !strings.Contains(refused.MessageEN, "never wrote") {
		t.Fatalf("reply to a stranger: HTTP %d %+v", st, refused)
	}
	// The user writes again: the window opens again.
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/user-message", map[string]any{"openid": openid, "msgtype": "event", "event": "user_enter_tempsession"}, nil)
	d.eventually("the session entry filed", func() bool {
		d.api("GET", base, nil, &c)
		return c.Conversation.Messages == 4
	})
	if st := d.api("POST", base+"/messages", map[string]any{"msgtype": "text", "text": map[string]string{"content": "欢迎回来"}}, nil); st != 200 {
		t.Fatalf("reply after the user came back: HTTP %d", st)
	}
}

// A subscribe template is added from the library; a send without the user's
// consent is refused (43101 named), the user accepts in the popup, the
// platform applies the pushed event and the send is delivered once.
func TestDemoSubscribeMessageConsent(t *testing.T) { subscribeMessageConsent(t, bootDemo(t)) }

func subscribeMessageConsent(t *testing.T, d *testDemo) {
	apps := d.miniPrograms()
	app := apps[2].AppID
	d.authorizeApp(app)

	var lib struct {
		Categories []struct {
			ID int `json:"id"`
		} `json:"categories"`
		Templates []struct {
			TID   int    `json:"tid"`
			Title string `json:"title"`
		} `json:"templates"`
	}
	if st := d.api("GET", "/api/v1/authorizers/"+app+"/subscribe-library?category=616", nil, &lib); st != 200 || len(lib.Categories) == 0 || len(lib.Templates) == 0 {
		t.Fatalf("library: %d %+v", st, lib)
	}
	var tpl struct {
		TemplateID string `json:"template_id"`
		TID        int    `json:"tid"`
		Title      string `json:"title"`
		Type       int    `json:"type"`
	}
	if st := d.api("POST", "/api/v1/authorizers/"+app+"/subscribe-templates", map[string]any{"tid": 1001, "kid_list": []int{1, 2, 3}, "scene_desc": "外卖"}, &tpl); st != 201 || tpl.TemplateID == "" || tpl.Title != "订单配送通知" || tpl.Type != 2 {
		t.Fatalf("add template: %d %+v", st, tpl)
	}
	var bad apiErr
	if st := d.api("POST", "/api/v1/authorizers/"+app+"/subscribe-templates", map[string]any{"tid": 1001, "kid_list": []int{1, 99}}, &bad); st != 409 || !strings.Contains(bad.Message, "200020") {
		t.Fatalf("add with a bad kid: %d %+v", st, bad)
	}

	// The user exists for the mini program (they wrote once) but never subscribed.
	var sent struct {
		OpenID string `json:"openid"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/user-message", map[string]any{"content": "下单了"}, &sent)
	openid := sent.OpenID
	msg := map[string]any{"openid": openid, "template_id": tpl.TemplateID,
		"data": map[string]any{"thing1": "宫保鸡丁", "character_string2": "20261203001", "time3": map[string]string{"value": "2026-12-03 12:30"}}}
	var refused apiErr
	st := d.api("POST", "/api/v1/authorizers/"+app+"/subscribe-messages", msg, &refused)
	if st != 403 || !strings.Contains(refused.Message, "43101") {
		t.Fatalf("send without consent: HTTP %d %+v, want 403 naming 43101", st, refused)
	}

	d.sandbox("POST", "/sandbox/api/apps/"+app+"/subscribe", map[string]any{"openid": openid, "template_ids": []string{tpl.TemplateID}, "accept": true}, nil)
	d.eventually("the consent", func() bool {
		var c struct {
			Consents []struct {
				TemplateID string `json:"template_id"`
				Remaining  int    `json:"remaining"`
			} `json:"subscribe_consents"`
		}
		d.api("GET", "/api/v1/authorizers/"+app+"/conversations/"+openid, nil, &c)
		return len(c.Consents) == 1 && c.Consents[0].Remaining == 1
	})
	var ok struct {
		MsgID int64 `json:"msgid"`
	}
	if st := d.api("POST", "/api/v1/authorizers/"+app+"/subscribe-messages", msg, &ok); st != 200 || ok.MsgID == 0 {
		t.Fatalf("send with consent: HTTP %d %+v", st, ok)
	}
	// One accept, one send: the second is refused again.
	refused = apiErr{}
	if st := d.api("POST", "/api/v1/authorizers/"+app+"/subscribe-messages", msg, &refused); st != 403 {
		t.Fatalf("second send on one consent: HTTP %d %+v", st, refused)
	}
	var delivered []string
	for _, e := range d.userLog(app, openid) {
		if e.Via == "subscribe_send" {
			delivered = append(delivered, e.Content)
		}
	}
	if len(delivered) != 1 || !strings.Contains(delivered[0], "宫保鸡丁") {
		t.Fatalf("the user received %q", delivered)
	}
	var calls struct {
		Items []struct {
			Errcode int `json:"errcode"`
			Count   int `json:"count"`
		} `json:"items"`
	}
	d.sandbox("GET", "/sandbox/api/calls?path=/cgi-bin/message/subscribe/send", nil, &calls)
	if len(calls.Items) != 1 || calls.Items[0].Errcode != 0 || calls.Items[0].Count != 1 {
		t.Fatalf("WeChat saw %+v, want exactly one successful send (the refusals never left the platform)", calls.Items)
	}
}

// The same template goes to several mini programs as River jobs; each gets
// it once.
func TestDemoSubscribeTemplateFleetApply(t *testing.T) {
	d := bootDemo(t)
	apps := d.miniPrograms()
	ids := []string{apps[0].AppID, apps[3].AppID, apps[4].AppID}
	for _, id := range ids {
		d.authorizeApp(id)
	}
	var apply struct {
		ID     int64          `json:"id"`
		Counts map[string]int `json:"counts"`
		Apps   []struct {
			AppID      string `json:"appid"`
			Status     string `json:"status"`
			TemplateID string `json:"template_id"`
		} `json:"apps"`
	}
	if st := d.api("POST", "/api/v1/subscribe-templates/apply", map[string]any{"tid": 3001, "kid_list": []int{1, 2, 4}, "appids": ids}, &apply); st != 202 || apply.ID == 0 {
		t.Fatalf("apply: %d %+v", st, apply)
	}
	d.eventually("every app added", func() bool {
		d.api("GET", fmt.Sprint("/api/v1/subscribe-templates/apply/", apply.ID), nil, &apply)
		return apply.Counts["added"] == 3
	})
	for _, a := range apply.Apps {
		var list struct {
			Items []struct {
				TemplateID string `json:"template_id"`
				TID        int    `json:"tid"`
			} `json:"items"`
		}
		d.api("GET", "/api/v1/authorizers/"+a.AppID+"/subscribe-templates", nil, &list)
		if len(list.Items) != 1 || list.Items[0].TemplateID != a.TemplateID || list.Items[0].TID != 3001 {
			t.Errorf("%s: templates %+v, apply says %s", a.AppID, list.Items, a.TemplateID)
		}
	}
	var bad apiErr
	if st := d.api("POST", "/api/v1/subscribe-templates/apply", map[string]any{"tid": 3001, "kid_list": []int{1, 9}, "appids": ids}, &bad); st != 400 {
		t.Fatalf("apply with a bad kid: %d %+v", st, bad)
	}
}
