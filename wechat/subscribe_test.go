package wechat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The capability calls go out with WeChat's method, path, query and body
// (docs/wechat-capabilities.md), and their answers decode.
func TestCapabilityCallsOnTheWire(t *testing.T) {
	ctx := context.Background()
	ts := StaticToken("AT")
	s := &codeServer{answers: map[string]string{
		pathSubAdd:        `{"errcode":0,"errmsg":"ok","priTmplId":"P1"}`,
		pathSubTitles:     `{"errcode":0,"errmsg":"ok","count":7,"data":[{"tid":1001,"title":"订单配送通知","type":2,"categoryId":"616"}]}`,
		pathSubscribeSend: `{"errcode":0,"errmsg":"ok","msgid":42}`,
	}, ctype: map[string]string{}}
	c := newCodeClient(t, s)

	if err := c.SetTyping(ctx, ts, "oU", TypingOn); err != nil {
		t.Fatal(err)
	}
	if r := s.last(t); r.method != "POST" || r.path != pathTyping || r.body != `{"touser":"oU","command":"Typing"}` || r.token != "AT" {
		t.Errorf("typing = %+v", r)
	}
	id, err := c.AddSubscribeTemplate(ctx, ts, 1001, []int{1, 2}, "外卖")
	if r := s.last(t); err != nil || id != "P1" || r.body != `{"tid":"1001","kidList":[1,2],"sceneDesc":"外卖"}` {
		t.Errorf("addtemplate = %q %v, %+v", id, err, r)
	}
	titles, n, err := c.PubTemplateTitles(ctx, ts, []int{616, 632}, 0, 30)
	if r := s.last(t); err != nil || n != 7 || titles[0].CategoryID != "616" || r.method != "GET" || r.query != "ids=616%2C632&limit=30&start=0" {
		t.Errorf("titles = %+v %d %v, %+v", titles, n, err, r)
	}
	msgID, err := c.SendSubscribeMessage(ctx, ts, SubscribeMessage{ToUser: "oU", TemplateID: "P1", Data: map[string]SubscribeValue{"thing1": {"面包"}}})
	if r := s.last(t); err != nil || msgID != 42 || r.body != `{"touser":"oU","template_id":"P1","data":{"thing1":{"value":"面包"}}}` {
		t.Errorf("send = %d %v, %+v", msgID, err, r)
	}
	s.answers[pathSubscribeSend] = `{"errcode":43101,"errmsg":"user refuse to accept the msg rid: 1-2-3"}`
	var we *Error
	if _, err := c.SendSubscribeMessage(ctx, ts, SubscribeMessage{ToUser: "oU", TemplateID: "P1"}); !errors.As(err, &we) || we.Code != CodeNoSubscription {
		t.Errorf("43101: %v", err)
	}
}

// The image goes up as multipart, in the part WeChat reads ("media").
func TestUploadImageIsMultipart(t *testing.T) {
	var got struct {
		ctype, kind, token, name string
		data                     []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.ctype, got.kind, got.token = r.Header.Get("Content-Type"), r.URL.Query().Get("type"), r.URL.Query().Get("access_token")
		_, params, _ := mime.ParseMediaType(got.ctype)
		mr := multipart.NewReader(r.Body, params["boundary"])
		if p, err := mr.NextPart(); err == nil {
			got.name = p.FormName()
			got.data, _ = io.ReadAll(p)
		}
		io.WriteString(w, `{"type":"image","media_id":"MID","created_at":1700000000}`)
	}))
	defer srv.Close()
	c := New(Options{Hosts: SingleHost(srv.URL)})
	m, err := c.UploadImage(context.Background(), StaticToken("AT"), "a.png", []byte("PNGDATA"))
	if err != nil || m.MediaID != "MID" || m.CreatedAt != 1700000000 {
		t.Fatalf("upload = %+v, %v", m, err)
	}
	if !strings.HasPrefix(got.ctype, "multipart/form-data") || got.kind != "image" || got.token != "AT" || got.name != "media" || !bytes.Equal(got.data, []byte("PNGDATA")) {
		t.Fatalf("request = %+v", got)
	}
}
