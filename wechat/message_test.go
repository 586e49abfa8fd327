package wechat

import (
	"context"
	"net/http"
	"reflect"
	"testing"
)

func TestSendCustomMessage(t *testing.T) {
	tests := []struct {
		name string
		m    CustomMessage
		want string
	}{
		{"text", TextMessage("oOPENID", "TESTCOMPONENT_MSG_TYPE_TEXT_from_api"),
			`{"touser":"oOPENID","msgtype":"text","text":{"content":"TESTCOMPONENT_MSG_TYPE_TEXT_from_api"}}`},
		{"image", CustomMessage{ToUser: "o1", MsgType: MsgTypeImage, Image: &CustomImage{MediaID: "MEDIA"}},
			`{"touser":"o1","msgtype":"image","image":{"media_id":"MEDIA"}}`},
		{"link, msgtype inferred", CustomMessage{ToUser: "o1", Link: &CustomLink{Title: "t", Description: "d", URL: "https://u", ThumbURL: "https://th"}},
			`{"touser":"o1","msgtype":"link","link":{"title":"t","description":"d","url":"https://u","thumb_url":"https://th"}}`},
		{"miniprogrampage", CustomMessage{ToUser: "o1", MsgType: MsgTypeMiniProgramPage, MiniProgramPage: &CustomMiniProgramPage{Title: "t", PagePath: "pages/index", ThumbMediaID: "M"}},
			`{"touser":"o1","msgtype":"miniprogrampage","miniprogrampage":{"title":"t","pagepath":"pages/index","thumb_media_id":"M"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, answer(`{"errcode":0,"errmsg":"ok"}`))
			c, _, _ := newClient(f.srv.URL, Options{})
			if err := c.SendCustomMessage(context.Background(), StaticToken("ATOK"), tt.m); err != nil {
				t.Fatal(err)
			}
			r := f.requests()[0]
			if r.Method != http.MethodPost || r.Path != "/cgi-bin/message/custom/send" {
				t.Errorf("request %s %s", r.Method, r.Path)
			}
			if want := map[string][]string{"access_token": {"ATOK"}}; !reflect.DeepEqual(map[string][]string(r.Query), want) {
				t.Errorf("query %v, want %v", r.Query, want)
			}
			if !jsonEqual(t, r.Body, tt.want) {
				t.Errorf("body %s, want %s", r.Body, tt.want)
			}
		})
	}
}

func TestSendCustomMessageErrors(t *testing.T) {
	f := newFake(t, answer(`{"errcode":45015,"errmsg":"response out of time limit or subscription is canceled rid: 5-6-7"}`))
	c, _, _ := newClient(f.srv.URL, Options{})
	ctx, ts := context.Background(), StaticToken("ATOK")
	err := c.SendCustomMessage(ctx, ts, TextMessage("o1", "late"))
	if ErrorCode(err) != CodeOutOfResponseWindow {
		t.Errorf("err = %v, want errcode 45015", err)
	}
	for _, m := range []CustomMessage{
		{MsgType: MsgTypeText, Text: &CustomText{"no user"}},
		{ToUser: "o1"},
		{ToUser: "o1", Text: &CustomText{"a"}, Image: &CustomImage{"b"}},
	} {
		if err := c.SendCustomMessage(ctx, ts, m); err == nil {
			t.Errorf("SendCustomMessage(%+v) accepted an incomplete message", m)
		}
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want only the first", n)
	}
}
