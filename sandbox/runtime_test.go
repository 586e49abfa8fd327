package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestUserMessagesAndCustomSend(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	redirect, _ := e.authorize(tok, AppBakery, nil)
	access := str(e.queryAuth(tok, redirect.Query().Get("auth_code")), "authorizer_access_token")

	e.plat.setMessageHandler(func(in inbound) (int, string) { return http.StatusOK, "" })
	out := e.userMessage(AppBakery, map[string]any{"content": "请问有无糖吐司吗？"})
	openid := str(out, "openid")
	if !strings.HasPrefix(openid, "o") || len(openid) != 28 || num(out, "msg_id") == 0 || num(out, "status") != 200 {
		t.Fatalf("message answer = %v", out)
	}
	in := waitFor(t, e.plat.messages, "MsgType", "text")
	f := in.Fields
	if f["_appid"] != AppBakery || f["ToUserName"] != "gh_8811d1215c4a" || f["FromUserName"] != openid ||
		f["Content"] != "请问有无糖吐司吗？" || f["MsgId"] != fmt.Sprint(num(out, "msg_id")) || in.Query.Get("openid") != openid {
		t.Errorf("message push = %v, query %v", f, in.Query)
	}
	// The same user again, by default; MsgIds are unique.
	again := e.userMessage(AppBakery, map[string]any{"content": "还有"})
	if str(again, "openid") != openid || num(again, "msg_id") == num(out, "msg_id") {
		t.Errorf("second message = %v", again)
	}
	ev := e.userMessage(AppBakery, map[string]any{"openid": "oNEWUSER0000000000000000000A", "event": "user_enter_tempsession", "session_from": "goods_42"})
	in = waitFor(t, e.plat.messages, "MsgType", "event")
	if in.Fields["Event"] != "user_enter_tempsession" || in.Fields["SessionFrom"] != "goods_42" || str(ev, "openid") != "oNEWUSER0000000000000000000A" {
		t.Errorf("event push = %v (%v)", in.Fields, ev)
	}

	send := func(token string, body any) map[string]any {
		return e.wx("/cgi-bin/message/custom/send?access_token="+token, body)
	}
	tests := []struct {
		name  string
		token string
		body  any
		want  int
	}{
		{"text", access, customText(openid, "有的，今天下午四点出炉"), 0},
		{"link", access, map[string]any{"touser": openid, "msgtype": "link", "link": map[string]string{"title": "新品", "description": "d", "url": "https://x.example/p", "thumb_url": "https://x.example/t.png"}}, 0},
		// Media ids must be the app's own uploads (caps_test.go sends real ones).
		{"image of a media id never uploaded", access, map[string]any{"touser": openid, "msgtype": "image", "image": map[string]string{"media_id": "MEDIA"}}, 40007},
		{"miniprogrampage of a media id never uploaded", access, map[string]any{"touser": openid, "msgtype": "miniprogrampage", "miniprogrampage": map[string]string{"title": "下单", "pagepath": "pages/index", "thumb_media_id": "M"}}, 40007},
		{"user who entered a session", access, customText("oNEWUSER0000000000000000000A", "欢迎"), 0},
		{"unknown openid", access, customText("oSOMEONEELSE000000000000000A", "hi"), 40003},
		{"unknown msgtype", access, map[string]any{"touser": openid, "msgtype": "video"}, 40008},
		{"text without content", access, map[string]any{"touser": openid, "msgtype": "text"}, 47001},
		{"bad json", access, "{", 47001},
		{"bad token", "forged", customText(openid, "hi"), 40001},
		{"no token", "", customText(openid, "hi"), 41001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, send(tt.token, tt.body), tt.want) })
	}

	_, box := e.do(http.MethodGet, "/sandbox/api/outbox?appid="+AppBakery, nil)
	items := box["items"].([]any)
	if len(items) != 3 {
		t.Fatalf("outbox has %d items, want 3: %v", len(items), box)
	}
	first := items[0].(map[string]any)
	if str(first, "appid") != AppBakery || str(first, "touser") != openid || str(first, "msgtype") != "text" ||
		str(first, "content") != "有的，今天下午四点出炉" || str(first, "at") == "" {
		t.Errorf("outbox item = %v", first)
	}
	if _, other := e.do(http.MethodGet, "/sandbox/api/outbox?appid="+AppHotPot, nil); len(other["items"].([]any)) != 0 {
		t.Errorf("outbox filter: %v", other)
	}

	if status, _ := e.do(http.MethodPost, "/sandbox/api/apps/wx0000000000000000/messages", map[string]any{"content": "x"}); status != http.StatusNotFound {
		t.Errorf("unknown app: HTTP %d", status)
	}
	if status, _ := e.do(http.MethodPost, "/sandbox/api/apps/"+AppHotPot+"/messages", map[string]any{"content": "x"}); status != http.StatusConflict {
		t.Errorf("unauthorized app: HTTP %d", status)
	}
}

func TestCustomSendWindow(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	redirect, _ := e.authorize(tok, AppTeaHouse, nil)
	info := e.queryAuth(tok, redirect.Query().Get("auth_code"))
	openid := str(e.userMessage(AppTeaHouse, map[string]any{"content": "包间还有吗"}), "openid")

	// 49 hours later every credential is stale: a platform gets a fresh
	// ticket, a component token and an authorizer token, and still may not
	// message a user who has been silent for more than 48 hours.
	e.advance("49h")
	tok = e.componentToken()
	out := e.wx("/cgi-bin/component/api_authorizer_token?component_access_token="+tok, map[string]string{
		"component_appid": testComponent, "authorizer_appid": AppTeaHouse, "authorizer_refresh_token": str(info, "authorizer_refresh_token")})
	wantErr(t, out, 0)
	access := str(out, "authorizer_access_token")
	wantErr(t, e.wx("/cgi-bin/message/custom/send?access_token="+access, customText(openid, "有")), 45015)
	e.userMessage(AppTeaHouse, map[string]any{"openid": openid, "content": "在吗"})
	wantErr(t, e.wx("/cgi-bin/message/custom/send?access_token="+access, customText(openid, "有")), 0)
}

func TestStateSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	tok := e.componentToken()
	redirect, _ := e.authorize(tok, AppFitness, nil)
	info := e.queryAuth(tok, redirect.Query().Get("auth_code"))
	e.userMessage(AppFitness, map[string]any{"content": "约私教"})
	e.advance("1h")
	_, clockBefore := e.do(http.MethodGet, "/sandbox/api/clock", nil)

	e.srv.Close()
	if err := e.sb.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(e.dir, "sandbox.db"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v", err, fi.Mode())
	}
	e.start()

	_, app := e.do(http.MethodGet, "/sandbox/api/apps/"+AppFitness, nil)
	if app["authorized"] != true || str(app, "authorizer_refresh_token") != str(info, "authorizer_refresh_token") ||
		len(app["openids"].([]any)) != 1 {
		t.Errorf("app after restart = %v", app)
	}
	_, clockAfter := e.do(http.MethodGet, "/sandbox/api/clock", nil)
	if str(clockAfter, "offset") != "1h0m0s" || str(clockAfter, "now") < str(clockBefore, "now") {
		t.Errorf("clock before %v, after %v", clockBefore, clockAfter)
	}
	// The component token issued before the restart still works, and so
	// does the refresh token.
	out := e.wx("/cgi-bin/component/api_authorizer_token?component_access_token="+tok, map[string]string{
		"component_appid": testComponent, "authorizer_appid": AppFitness, "authorizer_refresh_token": str(info, "authorizer_refresh_token")})
	wantErr(t, out, 0)
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := Component{AppID: testComponent, Secret: testSecret, Token: testToken, AESKey: testAESKey}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no data dir", Config{Components: []Component{good}}},
		{"no components", Config{DataDir: t.TempDir()}},
		{"short AES key", Config{DataDir: t.TempDir(), Components: []Component{{AppID: testComponent, Secret: "s", Token: "t", AESKey: "short"}}}},
		{"duplicate", Config{DataDir: t.TempDir(), Components: []Component{good, good}}},
	}
	for _, tt := range tests {
		if sb, err := New(tt.cfg); err == nil {
			sb.Close()
			t.Errorf("%s: New succeeded", tt.name)
		}
	}
}

// passingPlatform makes the fake platform behave like one that passes
// 全网发布: encrypted passive replies for A and B, and for C an empty answer
// followed by api_query_auth and message/custom/send.
func (e *testEnv) passingPlatform() {
	var mu sync.Mutex
	var ticket string
	e.plat.setComponentHandler(func(in inbound) (int, string) {
		if in.Fields["InfoType"] == "component_verify_ticket" {
			mu.Lock()
			ticket = in.Fields["ComponentVerifyTicket"]
			mu.Unlock()
		}
		return http.StatusOK, "success"
	})
	call := func(path string, body any) map[string]any {
		data, _ := json.Marshal(body)
		resp, err := http.Post(e.srv.URL+path, "application/json", bytes.NewReader(data))
		if err != nil {
			e.t.Errorf("platform: %s: %v", path, err)
			return nil
		}
		defer resp.Body.Close()
		out := map[string]any{}
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	e.plat.setMessageHandler(func(in inbound) (int, string) {
		f := in.Fields
		reply := func(content string) (int, string) {
			plain := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
				"<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content></xml>",
				f["FromUserName"], f["ToUserName"], time.Now().Unix(), content)
			body, err := e.plat.crypt.ReplyEnvelope([]byte(plain), time.Now().Unix(), "4815162342")
			if err != nil {
				e.t.Error(err)
			}
			return http.StatusOK, string(body)
		}
		switch {
		case f["MsgType"] == "event":
			return reply(f["Event"] + "from_callback")
		case f["Content"] == "TESTCOMPONENT_MSG_TYPE_TEXT":
			return reply("TESTCOMPONENT_MSG_TYPE_TEXT_callback")
		case strings.HasPrefix(f["Content"], "QUERY_AUTH_CODE:"):
			code := strings.TrimPrefix(f["Content"], "QUERY_AUTH_CODE:")
			go func() {
				mu.Lock()
				tk := ticket
				mu.Unlock()
				tok, _ := call("/cgi-bin/component/api_component_token", map[string]string{
					"component_appid": testComponent, "component_appsecret": testSecret, "component_verify_ticket": tk})["component_access_token"].(string)
				auth, _ := call("/cgi-bin/component/api_query_auth?component_access_token="+tok, map[string]string{
					"component_appid": testComponent, "authorization_code": code})["authorization_info"].(map[string]any)
				access, _ := auth["authorizer_access_token"].(string)
				call("/cgi-bin/message/custom/send?access_token="+access, customText(f["FromUserName"], code+"_from_api"))
			}()
			return http.StatusOK, ""
		}
		return http.StatusOK, "success"
	})
}

func TestReleaseCheckPasses(t *testing.T) {
	for _, appid := range []string{TestOfficialAccount, TestMiniProgram} {
		t.Run(appid, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.passingPlatform()
			status, out := e.do(http.MethodPost, "/sandbox/api/release-check", map[string]string{"appid": appid})
			if status != http.StatusOK || out["passed"] != true || str(out, "appid") != appid {
				t.Fatalf("release check: %d %v", status, out)
			}
			names := []string{}
			for _, c := range out["cases"].([]any) {
				names = append(names, str(c.(map[string]any), "name"))
			}
			if strings.Join(names, ",") != "authorized_push,ticket_push,event,text,api" {
				t.Errorf("cases = %v", names)
			}
			// The test account is now an authorizer like any other.
			_, app := e.do(http.MethodGet, "/sandbox/api/apps/"+appid, nil)
			if app["authorized"] != true {
				t.Errorf("test account after the check = %v", app)
			}
		})
	}
}

func TestReleaseCheckPicksATestAccount(t *testing.T) {
	e := newEnv(t)
	e.passingPlatform()
	e.sb.pickTestApp = func() string { return TestMiniProgram }
	_, out := e.do(http.MethodPost, "/sandbox/api/release-check", map[string]string{})
	if str(out, "appid") != TestMiniProgram || out["passed"] != true {
		t.Errorf("release check = %v", out)
	}
	if status, _ := e.do(http.MethodPost, "/sandbox/api/release-check", map[string]string{"appid": AppBakery}); status != http.StatusBadRequest {
		t.Errorf("release check on a merchant app: HTTP %d, want 400", status)
	}
}

func TestReleaseCheckFails(t *testing.T) {
	e := newEnv(t)
	e.sb.apiWait = 300 * time.Millisecond
	e.plat.setMessageHandler(func(in inbound) (int, string) {
		f := in.Fields
		if f["MsgType"] == "event" { // encrypted, but the wrong content
			plain := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content></xml>",
				f["FromUserName"], f["ToUserName"], f["Event"])
			body, _ := e.plat.crypt.ReplyEnvelope([]byte(plain), time.Now().Unix(), "1")
			return http.StatusOK, string(body)
		}
		return http.StatusOK, "success" // no passive reply, no API call
	})
	_, out := e.do(http.MethodPost, "/sandbox/api/release-check", map[string]string{"appid": TestOfficialAccount})
	if out["passed"] != false {
		t.Fatalf("release check passed against a wrong platform: %v", out)
	}
	want := map[string]string{
		"authorized_push": "",
		"ticket_push":     "",
		"event":           `want "LOCATIONfrom_callback"`,
		"text":            "instead of an encrypted passive reply",
		"api":             "no message/custom/send",
	}
	for _, c := range out["cases"].([]any) {
		cc := c.(map[string]any)
		name, detail := str(cc, "name"), str(cc, "detail")
		w, ok := want[name]
		if !ok {
			t.Errorf("unexpected case %q", name)
			continue
		}
		if passed := cc["passed"] == true; passed != (w == "") || !strings.Contains(detail, w) || detail == "" {
			t.Errorf("case %s: passed=%v detail %q, want detail with %q", name, cc["passed"], detail, w)
		}
	}
}

func TestPushRetriesSendTheSameBody(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int32
	e.plat.setComponentHandler(func(in inbound) (int, string) {
		if calls.Add(1) < 3 {
			return http.StatusInternalServerError, "busy"
		}
		return http.StatusOK, "success"
	})
	_, out := e.do(http.MethodPost, "/sandbox/api/ticket", nil)
	if out["ok"] != true || num(out, "status") != 200 {
		t.Fatalf("ticket = %v", out)
	}
	var bodies []string
	for range 3 {
		in := waitFor(t, e.plat.component, "InfoType", "component_verify_ticket")
		bodies = append(bodies, string(in.Body)+in.Query.Encode())
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Error("retries differ from the first attempt")
	}
	_, pushes := e.do(http.MethodGet, "/sandbox/api/pushes", nil)
	last := pushes["items"].([]any)[0].(map[string]any)
	if num(last, "attempts") != 3 || last["ok"] != true {
		t.Errorf("push log = %v", last)
	}

	// A platform that never says "success" is given up on after 1+3 attempts.
	e.plat.setComponentHandler(func(in inbound) (int, string) { return http.StatusOK, "ok" })
	_, out = e.do(http.MethodPost, "/sandbox/api/ticket", nil)
	if out["ok"] != false || str(out, "error") != "" {
		t.Errorf("ticket to a wrong platform = %v", out)
	}
	_, pushes = e.do(http.MethodGet, "/sandbox/api/pushes?limit=1", nil)
	if last := pushes["items"].([]any)[0].(map[string]any); num(last, "attempts") != 4 || !strings.Contains(str(last, "error"), `"ok"`) {
		t.Errorf("push log = %v", last)
	}
}

func TestControlAppsAndIcons(t *testing.T) {
	e := newEnv(t)
	_, out := e.do(http.MethodGet, "/sandbox/api/apps", nil)
	items := out["items"].([]any)
	minis, officials := 0, 0
	for _, it := range items {
		a := it.(map[string]any)
		if str(a, "appid") == TestOfficialAccount || str(a, "appid") == TestMiniProgram {
			t.Errorf("hidden test account listed: %v", a)
		}
		if len(str(a, "appid")) != 18 || !strings.HasPrefix(str(a, "user_name"), "gh_") || str(a, "principal_name") == "" {
			t.Errorf("app = %v", a)
		}
		if a["is_mini_program"] == true {
			minis++
			if len(a["categories"].([]any)) == 0 {
				t.Errorf("mini program without categories: %v", a)
			}
		} else {
			officials++
		}
	}
	if minis < 6 || officials < 1 {
		t.Errorf("%d mini programs and %d official accounts", minis, officials)
	}

	status, svg := getPage(t, e.srv.URL+"/sandbox/static/icons/"+AppHotPot+".svg")
	if status != http.StatusOK || !strings.Contains(svg, "<svg") || !strings.Contains(svg, ">蜀</text>") {
		t.Errorf("icon: HTTP %d %s", status, svg)
	}
	if status, _ := getPage(t, e.srv.URL+"/sandbox/static/icons/wx0000000000000000.svg"); status != http.StatusNotFound {
		t.Errorf("unknown icon: HTTP %d", status)
	}
	if status, svg := getPage(t, e.srv.URL+"/sandbox/static/qrcode/"+AppHotPot+".svg"); status != http.StatusOK || !strings.Contains(svg, "<path") {
		t.Errorf("qrcode: HTTP %d", status)
	}
	if status, _ := e.do(http.MethodGet, "/sandbox/api/apps/wx0000000000000000", nil); status != http.StatusNotFound {
		t.Errorf("unknown app: HTTP %d", status)
	}
	_, comps := e.do(http.MethodGet, "/sandbox/api/components", nil)
	if c := comps["items"].([]any)[0].(map[string]any); str(c, "component_appid") != testComponent || str(c, "platform_url") != e.plat.srv.URL {
		t.Errorf("components = %v", comps)
	}
}

func TestHomePageForms(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/", "/sandbox/"} {
		status, page := getPage(t, e.srv.URL+path)
		if status != http.StatusOK || !strings.Contains(page, "<title>wxfleet 沙箱 · WeChat sandbox</title>") || !strings.Contains(page, "麦香坊烘焙") {
			t.Errorf("GET %s: HTTP %d", path, status)
		}
	}
	post := func(path string, form url.Values) string {
		resp := must(http.PostForm(e.srv.URL+path, form)) // follows the 303 back home
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s: HTTP %d", path, resp.StatusCode)
		}
		return string(data)
	}
	if page := post("/sandbox/ui/clock", url.Values{"advance": {"3h"}}); !strings.Contains(page, "sandbox clock is now") {
		t.Error("clock form: no confirmation")
	}
	if _, c := e.do(http.MethodGet, "/sandbox/api/clock", nil); str(c, "offset") != "3h0m0s" {
		t.Errorf("clock after form = %v", c)
	}
	post("/sandbox/ui/clock", url.Values{"reset": {"1"}})
	if page := post("/sandbox/ui/ticket", url.Values{"component_appid": {testComponent}}); !strings.Contains(page, "acknowledged") {
		t.Error("ticket form: no confirmation")
	}
	waitFor(t, e.plat.component, "InfoType", "component_verify_ticket")

	tok := e.componentToken()
	e.authorize(tok, AppBakery, nil)
	page := post("/sandbox/ui/message", url.Values{"target": {AppBakery + " " + testComponent}, "content": {"你好"}})
	if !strings.Contains(page, "HTTP 200") {
		t.Error("message form: no confirmation")
	}
	waitFor(t, e.plat.messages, "Content", "你好")
	post("/sandbox/ui/unauthorize", url.Values{"appid": {AppBakery}, "component_appid": {testComponent}})
	waitFor(t, e.plat.component, "InfoType", "unauthorized")

	e.passingPlatform()
	page = post("/sandbox/ui/release-check", url.Values{"component_appid": {testComponent}})
	if !strings.Contains(page, `id="release-check"`) || !strings.Contains(page, "通过 · passed") {
		t.Errorf("release check form did not show a passing result")
	}
}
