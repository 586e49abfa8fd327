package sandbox

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
)

// capEnv is a sandbox with AppBakery authorized and one user who wrote to it.
type capEnv struct {
	*testEnv
	ctok, access, refresh, openid string
}

func newCapEnv(t *testing.T) *capEnv {
	e := newEnv(t)
	tok := e.componentToken()
	redirect, _ := e.authorize(tok, AppBakery, nil)
	info := e.queryAuth(tok, redirect.Query().Get("auth_code"))
	ce := &capEnv{testEnv: e, ctok: tok, access: str(info, "authorizer_access_token"), refresh: str(info, "authorizer_refresh_token")}
	ce.openid = str(e.userMessage(AppBakery, map[string]any{"content": "在吗"}), "openid")
	waitFor(t, e.plat.messages, "MsgType", "text")
	return ce
}

// renew fetches fresh tokens after the clock moved past their expiry.
func (e *capEnv) renew() {
	e.t.Helper()
	e.ctok = e.componentToken()
	out := e.wx("/cgi-bin/component/api_authorizer_token?component_access_token="+e.ctok,
		map[string]string{"component_appid": testComponent, "authorizer_appid": AppBakery, "authorizer_refresh_token": e.refresh})
	wantErr(e.t, out, 0)
	e.access, e.refresh = str(out, "authorizer_access_token"), str(out, "authorizer_refresh_token")
}

// pngBytes is the start of a PNG file: what content sniffing looks at.
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{0}, 64)...)

// upload posts a multipart media/upload with the file in part field.
func (e *capEnv) upload(kind, field string, file []byte) map[string]any {
	e.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if field != "" {
		fw, _ := mw.CreateFormFile(field, "a.png")
		fw.Write(file)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/cgi-bin/media/upload?access_token="+e.access+"&type="+kind, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("upload: HTTP %d %s", resp.StatusCode, data)
	}
	return out
}

func (e *capEnv) send(body any) map[string]any {
	return e.wx("/cgi-bin/message/custom/send?access_token="+e.access, body)
}

func imageMsg(to, mediaID string) map[string]any {
	return map[string]any{"touser": to, "msgtype": "image", "image": map[string]string{"media_id": mediaID}}
}

// The user log shows what the users sent and received, both directions.
func (e *capEnv) userLog(openid string) []map[string]any {
	e.t.Helper()
	status, out := e.do(http.MethodGet, "/sandbox/api/apps/"+AppBakery+"/user-messages?openid="+openid, nil)
	if status != 200 {
		e.t.Fatalf("user-messages: HTTP %d %v", status, out)
	}
	var items []map[string]any
	for _, it := range out["items"].([]any) {
		items = append(items, it.(map[string]any))
	}
	return items
}

func TestMediaUploadIsStrict(t *testing.T) {
	e := newCapEnv(t)
	up := e.upload("image", "media", pngBytes)
	wantErr(t, up, 0)
	id := str(up, "media_id")
	if str(up, "type") != "image" || len(id) < 32 || num(up, "created_at") == 0 {
		t.Fatalf("upload answer = %v", up)
	}
	wantErr(t, e.upload("voice", "media", pngBytes), 40004)
	wantErr(t, e.upload("", "media", pngBytes), 40004)
	wantErr(t, e.upload("image", "", nil), 41005)
	wantErr(t, e.upload("image", "file", pngBytes), 41005) // the part must be called media
	wantErr(t, e.upload("image", "media", []byte("just some text, not an image")), 40005)
	big := append(bytes.Clone(pngBytes), make([]byte, mediaImageLimit)...)
	wantErr(t, e.upload("image", "media", big), 40009)

	// The image goes out with the uploaded id; another app's or a made-up id
	// is 40007, and so is the id once its 3 days are over.
	wantErr(t, e.send(imageMsg(e.openid, id)), 0)
	wantErr(t, e.send(imageMsg(e.openid, "made-up-media-id")), 40007)
	card := map[string]any{"touser": e.openid, "msgtype": "miniprogrampage",
		"miniprogrampage": map[string]string{"title": "下单", "pagepath": "pages/index", "thumb_media_id": id}}
	wantErr(t, e.send(card), 0)

	e.advance("73h")
	e.renew()
	e.userMessage(AppBakery, map[string]any{"openid": e.openid, "content": "图片看不到了"}) // the window is open again
	wantErr(t, e.send(imageMsg(e.openid, id)), 40007)
	wantErr(t, e.send(customText(e.openid, "我重新发一张")), 0)

	var out []string
	for _, it := range e.userLog(e.openid) {
		out = append(out, fmt.Sprint(it["direction"], "/", it["via"], "/", it["msgtype"]))
	}
	want := "[in/user/text out/custom_send/image out/custom_send/miniprogrampage in/user/text out/custom_send/text]"
	if fmt.Sprint(out) != want {
		t.Errorf("user log = %v, want %s", out, want)
	}
}

func TestCustomSendWindowIsFortyEightHours(t *testing.T) {
	e := newCapEnv(t)
	e.advance("47h")
	e.renew()
	wantErr(t, e.send(customText(e.openid, "还在吗")), 0)
	e.advance("2h") // 49 h after the user's message
	e.renew()
	wantErr(t, e.send(customText(e.openid, "还在吗")), 45015)
	// user_enter_tempsession opens the window as a message does.
	e.userMessage(AppBakery, map[string]any{"openid": e.openid, "msgtype": "event", "event": "user_enter_tempsession", "session_from": "x"})
	wantErr(t, e.send(customText(e.openid, "欢迎回来")), 0)
}

func TestUserMessagePushesEveryType(t *testing.T) {
	e := newCapEnv(t)
	post := func(body map[string]any) (int, map[string]any) {
		return e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/user-message", body)
	}
	st, img := post(map[string]any{"openid": e.openid, "msgtype": "image"})
	in := waitFor(t, e.plat.messages, "MsgType", "image")
	if st != 200 || in.Fields["MediaId"] != str(img, "media_id") || !strings.HasPrefix(in.Fields["PicUrl"], "http") ||
		in.Fields["MsgId"] == "" || in.Fields["FromUserName"] != e.openid {
		t.Errorf("image push = %v (answer %d %v)", in.Fields, st, img)
	}
	// The user's image is a media of the app: it can be sent back.
	wantErr(t, e.send(imageMsg(e.openid, str(img, "media_id"))), 0)

	st, _ = post(map[string]any{"openid": e.openid, "msgtype": "miniprogrampage", "title": "看看这个", "pagepath": "pages/goods?id=1"})
	in = waitFor(t, e.plat.messages, "MsgType", "miniprogrampage")
	f := in.Fields
	if st != 200 || f["Title"] != "看看这个" || f["AppId"] != AppBakery || f["PagePath"] != "pages/goods?id=1" ||
		f["ThumbUrl"] == "" || f["ThumbMediaId"] == "" || f["MsgId"] == "" {
		t.Errorf("miniprogrampage push = %v", f)
	}
	st, _ = post(map[string]any{"msgtype": "event"})
	in = waitFor(t, e.plat.messages, "MsgType", "event")
	if _, has := in.Fields["MsgId"]; st != 200 || in.Fields["Event"] != "user_enter_tempsession" || has {
		t.Errorf("event push = %v", in.Fields)
	}
	for _, bad := range []map[string]any{{"msgtype": "text"}, {"msgtype": "video"}, {"msgtype": "miniprogrampage", "title": "t"}} {
		if st, out := post(bad); st != http.StatusBadRequest {
			t.Errorf("%v: HTTP %d %v, want 400", bad, st, out)
		}
	}
}

func TestTypingIsStrict(t *testing.T) {
	e := newCapEnv(t)
	typing := func(to, cmd string) map[string]any {
		return e.wx("/cgi-bin/message/custom/business/typing?access_token="+e.access, map[string]string{"touser": to, "command": cmd})
	}
	wantErr(t, typing(e.openid, "Typing"), 0)
	wantErr(t, typing(e.openid, "Typing"), 45081)
	wantErr(t, typing(e.openid, "CancelTyping"), 0)
	wantErr(t, typing(e.openid, "Typing"), 0)
	wantErr(t, typing(e.openid, "typing"), 45072)
	wantErr(t, typing("oSOMEONEELSE000000000000000A", "Typing"), 40003)
	wantErr(t, e.wx("/cgi-bin/message/custom/business/typing?access_token="+e.access, ""), 44002)
	wantErr(t, e.wx("/cgi-bin/message/custom/typing?access_token="+e.ctok, map[string]string{"touser": e.openid, "command": "Typing"}), 61015)
	// A message ends the typing; 30 s without one and Typing is refused.
	wantErr(t, e.send(customText(e.openid, "好了")), 0)
	wantErr(t, typing(e.openid, "Typing"), 0)
	e.advance("31s")
	wantErr(t, typing(e.openid, "CancelTyping"), 0)
	wantErr(t, typing(e.openid, "Typing"), 45080)
}

func TestSubscribeLibraryAndTemplates(t *testing.T) {
	e := newCapEnv(t)
	get := func(path string) map[string]any {
		_, out := e.do(http.MethodGet, path+sep(path)+"access_token="+e.access, nil)
		return out
	}
	cats := get("/wxaapi/newtmpl/getcategory")
	wantErr(t, cats, 0)
	if n := len(cats["data"].([]any)); n != 3 {
		t.Fatalf("categories = %v", cats)
	}
	titles := get("/wxaapi/newtmpl/getpubtemplatetitles?ids=616,651&start=0&limit=2")
	wantErr(t, titles, 0)
	if num(titles, "count") != 4 || len(titles["data"].([]any)) != 2 {
		t.Errorf("titles = %v", titles)
	}
	wantErr(t, get("/wxaapi/newtmpl/getpubtemplatetitles?start=0&limit=2"), 200018)
	wantErr(t, get("/wxaapi/newtmpl/getpubtemplatetitles?ids=x&start=0&limit=2"), 200019)
	wantErr(t, get("/wxaapi/newtmpl/getpubtemplatetitles?ids=616&start=-1&limit=2"), 200016)
	wantErr(t, get("/wxaapi/newtmpl/getpubtemplatetitles?ids=616&start=0&limit=31"), 200017)
	kw := get("/wxaapi/newtmpl/getpubtemplatekeywords?tid=1001")
	if num(kw, "count") != 5 {
		t.Errorf("keywords = %v", kw)
	}
	wantErr(t, get("/wxaapi/newtmpl/getpubtemplatekeywords?tid=99"), 200014)
	if st, out := e.do(http.MethodPost, "/wxaapi/newtmpl/gettemplate?access_token="+e.access, map[string]any{}); st != 200 || errcode(out) != 43002 {
		t.Errorf("POST gettemplate: %d %v, want 43002", st, out)
	}

	add := func(body any) map[string]any { return e.wx("/wxaapi/newtmpl/addtemplate?access_token="+e.access, body) }
	wantErr(t, add(map[string]any{"tid": "99", "kidList": []int{1, 2}}), 200014)
	wantErr(t, add(map[string]any{"tid": "1001", "kidList": []int{1}}), 200020)
	wantErr(t, add(map[string]any{"tid": "1001", "kidList": []int{1, 1}}), 200020)
	wantErr(t, add(map[string]any{"tid": "1001", "kidList": []int{1, 9}}), 200020)
	wantErr(t, add(map[string]any{"tid": "1001", "kidList": []int{1, 2}, "sceneDesc": strings.Repeat("长", 16)}), 200021)
	wantErr(t, add(""), 44002)
	wantErr(t, add(map[string]any{"tid": "1001", "kidList": []int{1, 2}, "sceneDesc": "外卖配送"}), 0)
	for range subTemplateMax - 1 {
		wantErr(t, add(map[string]any{"tid": 1002, "kidList": []int{1, 2}}), 0) // a number is taken too
	}
	wantErr(t, add(map[string]any{"tid": "1001", "kidList": []int{1, 2}}), 200012)

	list := get("/wxaapi/newtmpl/gettemplate")["data"].([]any)
	first := list[0].(map[string]any)
	if len(list) != subTemplateMax || str(first, "title") != "订单配送通知" || num(first, "type") != 2 ||
		str(first, "content") != "订单内容:{{thing1.DATA}}\n订单号:{{character_string2.DATA}}\n" {
		t.Fatalf("gettemplate = %d items, first %v", len(list), first)
	}
	del := func(id string) map[string]any {
		return e.wx("/wxaapi/newtmpl/deltemplate?access_token="+e.access, map[string]string{"priTmplId": id})
	}
	wantErr(t, del(str(first, "priTmplId")), 0)
	wantErr(t, del(str(first, "priTmplId")), 40037)
	e.restart()
	if n := len(get("/wxaapi/newtmpl/gettemplate")["data"].([]any)); n != subTemplateMax-1 {
		t.Errorf("after a restart: %d templates, want %d", n, subTemplateMax-1)
	}
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

func TestSubscribeSendNeedsConsent(t *testing.T) {
	e := newCapEnv(t)
	add := func(tid int, kids ...int) string {
		out := e.wx("/wxaapi/newtmpl/addtemplate?access_token="+e.access, map[string]any{"tid": fmt.Sprint(tid), "kidList": kids})
		wantErr(t, out, 0)
		return str(out, "priTmplId")
	}
	order := add(1001, 1, 2, 3)
	expiry := add(3002, 1, 2) // 长期订阅
	send := func(to, tmpl string, data map[string]string) map[string]any {
		d := map[string]any{}
		for k, v := range data {
			d[k] = map[string]string{"value": v}
		}
		return e.wx("/cgi-bin/message/subscribe/send?access_token="+e.access, map[string]any{"touser": to, "template_id": tmpl, "page": "pages/order?id=7", "data": d})
	}
	good := map[string]string{"thing1": "宫保鸡丁", "character_string2": "20261203001", "time3": "2026-12-03 12:30"}
	wantErr(t, send(e.openid, order, good), 43101)
	wantErr(t, send("oSOMEONEELSE000000000000000A", order, good), 40003)
	wantErr(t, send(e.openid, "no-such-template", good), 40037)

	subscribe := func(accept bool, ids ...string) map[string]any {
		st, out := e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/subscribe", map[string]any{"openid": e.openid, "template_ids": ids, "accept": accept})
		if st != 200 {
			t.Fatalf("subscribe: HTTP %d %v", st, out)
		}
		return out
	}
	subscribe(true, order, order) // two taps: two sends
	in := waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")
	var popup struct {
		List []struct {
			TemplateID string `xml:"TemplateId"`
			Status     string `xml:"SubscribeStatusString"`
			Scene      string `xml:"PopupScene"`
		} `xml:"SubscribeMsgPopupEvent>List"`
	}
	if err := xml.Unmarshal(in.Plain, &popup); err != nil || len(popup.List) != 2 || popup.List[0].TemplateID != order ||
		popup.List[1].Status != "accept" || popup.List[0].Scene != "0" || in.Fields["FromUserName"] != e.openid {
		t.Errorf("popup push = %s (%v)", in.Plain, err)
	}
	bad := map[string]string{"thing1": strings.Repeat("长", 21), "character_string2": "20261203001", "time3": "2026-12-03 12:30"}
	wantErr(t, send(e.openid, order, bad), 47003)
	missing := map[string]string{"thing1": "宫保鸡丁", "time3": "2026-12-03 12:30"}
	wantErr(t, send(e.openid, order, missing), 47003)
	wantErr(t, send(e.openid, order, good), 0)
	wantErr(t, send(e.openid, order, good), 0)
	wantErr(t, send(e.openid, order, good), 43101) // both consents used
	// A refusal grants nothing; a long-term acceptance keeps working.
	subscribe(false, order)
	waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")
	wantErr(t, send(e.openid, order, good), 43101)
	subscribe(true, expiry)
	waitFor(t, e.plat.messages, "Event", "subscribe_msg_popup_event")
	exp := map[string]string{"thing1": "黄金会员", "date2": "2026年12月31日"}
	wantErr(t, send(e.openid, expiry, exp), 0)
	wantErr(t, send(e.openid, expiry, exp), 0)

	if st, _ := e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/subscribe", map[string]any{"template_ids": []string{"nope"}, "accept": true}); st != 400 {
		t.Errorf("subscribe to an unknown template: HTTP %d, want 400", st)
	}
	var delivered []string
	for _, it := range e.userLog(e.openid) {
		if it["via"] == "subscribe_send" {
			delivered = append(delivered, fmt.Sprint(it["content"]))
		}
	}
	if len(delivered) != 4 || delivered[0] != "订单配送通知\n订单内容:宫保鸡丁\n订单号:20261203001\n配送时间:2026-12-03 12:30" {
		t.Errorf("delivered = %q", delivered)
	}
	// Every call is counted by errcode.
	_, calls := e.do(http.MethodGet, "/sandbox/api/calls?path=/cgi-bin/message/subscribe/send", nil)
	counts := map[string]string{}
	for _, it := range calls["items"].([]any) {
		m := it.(map[string]any)
		counts[fmt.Sprint(m["errcode"])] = fmt.Sprint(m["count"])
	}
	if counts["0"] != "4" || counts["43101"] != "3" || counts["47003"] != "2" {
		t.Errorf("subscribe/send counts = %v", counts)
	}
}
