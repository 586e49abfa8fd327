package main

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/webhook"
)

// flakyReceiver is a webhook receiver that answers 500 until told to accept,
// then verifies each delivery's signature with secret and records its id.
type flakyReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	accept    bool
	secret    string
	refused   int
	delivered []string // X-Wxfleet-Delivery of the accepted ones
	bad       []string
}

func newFlakyReceiver(t *testing.T) *flakyReceiver {
	f := &flakyReceiver{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.accept {
			f.refused++
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if err := webhook.Verify(f.secret, req.Header.Get("X-Wxfleet-Signature"), body, time.Now(), 5*time.Minute); err != nil {
			f.bad = append(f.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.delivered = append(f.delivered, req.Header.Get("X-Wxfleet-Delivery"))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *flakyReceiver) state() (refused int, delivered []string, bad []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused, append([]string(nil), f.delivered...), append([]string(nil), f.bad...)
}

var (
	secretOnPage    = regexp.MustCompile(`<code id="secret">([^<]+)</code>`)
	redeliverOnPage = regexp.MustCompile(`id="redeliver-([^"]+)"`)
)

// The webhook pages: an endpoint made in the console shows its secret once
// (the one its deliveries are signed with) and is listed; a form without
// its CSRF token makes nothing; a delivery whose only attempt failed is in
// the dead-letter list, and its redeliver button sends it again, signed,
// with the same delivery id; the endpoint's log then shows it delivered.
// Disable and rotate act; delete asks first.
func TestConsoleWebhooks(t *testing.T) {
	d := bootDemoWith(t, func(o *demoOptions) { o.WebhookMaxAttempts = 1 })
	rcv := newFlakyReceiver(t)
	c := d.console()
	q := "?platform=" + demoPlatform.AppID
	if st, page := c.get("/webhooks" + q); st != 200 || !strings.Contains(page, `id="new-webhook"`) {
		t.Fatalf("webhooks page: HTTP %d", st)
	}
	form := url.Values{"url": {rcv.srv.URL + "/in"}, "events": {"message.received"}, "description": {"控制台创建"}}
	withoutCSRF := url.Values{"csrf": {"forged"}, "url": form["url"], "events": form["events"]}
	if st, _ := c.post("/webhooks"+q, withoutCSRF); st != 403 {
		t.Fatalf("a form with a forged CSRF token: HTTP %d, want 403", st)
	}
	var none struct {
		Items []any `json:"items"`
	}
	if d.api("GET", "/api/v1/webhooks", nil, &none); len(none.Items) != 0 {
		t.Fatalf("the forged form made %d webhooks", len(none.Items))
	}
	if st, page := c.post("/webhooks"+q, url.Values{"url": {"ftp://example.com/"}, "events": {"*"}}); st != 400 || !strings.Contains(page, `role="alert"`) || !strings.Contains(page, "webhook URL") {
		t.Fatalf("an ftp URL: HTTP %d, want 400 with the reason shown", st)
	}
	st, page := c.post("/webhooks"+q, form)
	m := secretOnPage.FindStringSubmatch(page)
	if st != 201 || m == nil || !strings.HasPrefix(m[1], "whsec_") {
		t.Fatalf("create webhook: HTTP %d, no secret shown:\n%s", st, page)
	}
	secret := m[1]
	rcv.mu.Lock()
	rcv.secret = secret
	rcv.mu.Unlock()
	var list struct {
		Items []struct {
			ID, URL string
		} `json:"items"`
	}
	d.api("GET", "/api/v1/webhooks", nil, &list)
	if len(list.Items) != 1 || list.Items[0].URL != rcv.srv.URL+"/in" {
		t.Fatalf("webhooks after the form: %+v", list.Items)
	}
	id := list.Items[0].ID
	if _, page := c.get("/webhooks" + q); !strings.Contains(page, `data-webhook="`+id+`"`) || !strings.Contains(page, "控制台创建") || strings.Contains(page, secret) {
		t.Fatalf("the list lacks webhook %s (or shows its secret again)", id)
	}
	if _, page := c.get("/webhooks/" + id + q); !strings.Contains(page, `id="webhook"`) || strings.Contains(page, secret) {
		t.Fatalf("the webhook's page lacks it or shows its secret")
	}

	// A user's message: one delivery, one attempt, refused → dead.
	app := d.miniPrograms()[1].AppID
	d.authorizeApp(app)
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/user-message", map[string]any{"msgtype": "text", "content": "有人吗"}, nil)
	var dead string
	d.eventually("the dead letter on the page", func() bool {
		_, page := c.get("/webhooks" + q)
		if m := redeliverOnPage.FindStringSubmatch(page); m != nil {
			dead = m[1]
			return true
		}
		return false
	})
	if refused, _, _ := rcv.state(); refused != 1 {
		t.Fatalf("the receiver refused %d attempts, want 1", refused)
	}
	rcv.mu.Lock()
	rcv.accept = true
	rcv.mu.Unlock()
	st, loc := c.post("/webhook-deliveries/"+dead+"/redeliver"+q, url.Values{})
	if st != http.StatusSeeOther || !strings.Contains(loc, "redelivered="+url.QueryEscape(dead)) {
		t.Fatalf("redeliver: HTTP %d → %q", st, loc)
	}
	d.eventually("the redelivery at the receiver", func() bool {
		_, got, _ := rcv.state()
		return len(got) == 1
	})
	if _, got, bad := rcv.state(); got[0] != dead || len(bad) != 0 {
		t.Fatalf("received %v (bad %v), want delivery %s signed with the page's secret", got, bad, dead)
	}
	d.eventually("the delivery shown delivered", func() bool {
		_, page := c.get("/webhooks/" + id + q + "&status=delivered")
		return strings.Contains(page, `data-delivery="`+dead+`"`)
	})
	if _, page := c.get("/webhooks" + q); strings.Contains(page, `id="redeliver-`+dead+`"`) {
		t.Fatalf("delivery %s is still a dead letter", dead)
	}

	// Disable, rotate (a new secret shown once), delete after confirming.
	if st, _ := c.post("/webhooks/"+id+"/disable"+q, url.Values{"disabled": {"1"}}); st != http.StatusSeeOther {
		t.Fatalf("disable: HTTP %d", st)
	}
	var got struct {
		Disabled bool `json:"disabled"`
	}
	if d.api("GET", "/api/v1/webhooks/"+id, nil, &got); !got.Disabled {
		t.Fatal("the webhook is not disabled")
	}
	st, page = c.post("/webhooks/"+id+"/rotate-secret"+q, url.Values{})
	if m := secretOnPage.FindStringSubmatch(page); st != 200 || m == nil || m[1] == secret {
		t.Fatalf("rotate: HTTP %d, want a new secret shown", st)
	}
	if st, loc := c.post("/webhooks/"+id+"/delete"+q, url.Values{}); st != http.StatusSeeOther || !strings.Contains(loc, "confirm=delete") {
		t.Fatalf("delete without confirmation: HTTP %d → %q, want the confirmation", st, loc)
	}
	if st := d.api("GET", "/api/v1/webhooks/"+id, nil, nil); st != 200 {
		t.Fatalf("the unconfirmed delete deleted (HTTP %d)", st)
	}
	if st, _ := c.post("/webhooks/"+id+"/delete"+q, url.Values{"confirm": {"yes"}}); st != http.StatusSeeOther {
		t.Fatalf("confirmed delete: HTTP %d", st)
	}
	if st := d.api("GET", "/api/v1/webhooks/"+id, nil, nil); st != 404 {
		t.Fatalf("after delete: HTTP %d, want 404", st)
	}
	var audit struct {
		Items []struct{ Action, Via, Target string } `json:"items"`
	}
	d.api("GET", "/api/v1/audit-log?limit=20", nil, &audit)
	var acts []string
	for _, e := range audit.Items {
		if e.Via == "session" {
			acts = append(acts, e.Action+" "+e.Target)
		}
	}
	want := []string{"webhook.delete " + id, "webhook.rotate_secret " + id, "webhook.update " + id, "webhook.redeliver " + dead, "webhook.create " + id}
	if strings.Join(acts, ",") != strings.Join(want, ",") {
		t.Errorf("the console's audit entries: %v, want %v", acts, want)
	}
}

// The customer-service inbox: a user's message is listed and shown; a reply
// inside the 48-hour window reaches the user, with an image too; a
// subscribe template is added from the library (a bad keyword refused with
// WeChat's 200020), and the send without
// the user's consent is refused on the page naming 43101; past the window
// (WeChat's clock moved 49 h) the reply is refused on the page naming
// WeChat's 45015, the text kept in the form, nothing sent.
func TestConsoleCustomerService(t *testing.T) {
	d := bootDemo(t)
	app := d.miniPrograms()[1].AppID
	d.authorizeApp(app)
	var sent struct {
		OpenID string `json:"openid"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/user-message", map[string]any{"msgtype": "text", "content": "请问今天营业吗？"}, &sent)
	openid := sent.OpenID
	c := d.console()
	q := "?platform=" + demoPlatform.AppID
	if _, page := c.get("/authorizers/" + app + q); !strings.Contains(page, "/authorizers/"+app+"/inbox") {
		t.Fatal("the authorizer page does not link its inbox")
	}
	d.eventually("the conversation in the inbox", func() bool {
		_, page := c.get("/authorizers/" + app + "/inbox" + q)
		return strings.Contains(page, `data-openid="`+openid+`"`)
	})
	conv := "/authorizers/" + app + "/inbox/" + openid + q
	if st, page := c.get(conv); st != 200 || !strings.Contains(page, "请问今天营业吗？") || !strings.Contains(page, `id="reply"`) {
		t.Fatalf("conversation page: HTTP %d", st)
	}
	st, loc := c.post(conv, url.Values{"content": {"营业的，九点到九点"}})
	if st != http.StatusSeeOther || !strings.Contains(loc, "sent=1") {
		t.Fatalf("reply: HTTP %d → %q", st, loc)
	}
	var log []string
	for _, e := range d.userLog(app, openid) {
		log = append(log, e.Direction+"/"+e.Via+"/"+e.Content)
	}
	if want := "in/user/请问今天营业吗？,out/custom_send/营业的，九点到九点"; strings.Join(log, ",") != want {
		t.Fatalf("the user's log: %v, want %s", log, want)
	}
	if _, page := c.get(conv); !strings.Contains(page, "营业的，九点到九点") {
		t.Fatal("the conversation page lacks the reply")
	}
	// A text and an image in one form (multipart, the CSRF field among the parts).
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", c.csrf)
	mw.WriteField("content", "这是菜单")
	fw, _ := mw.CreateFormFile("image", "menu.png")
	fw.Write(png)
	mw.Close()
	req, _ := http.NewRequest("POST", d.Platform.URL()+conv, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if st, _, hdr := c.do(req); st != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "sent=1") {
		t.Fatalf("reply with an image: HTTP %d → %q", st, hdr.Get("Location"))
	}
	log = nil
	for _, e := range d.userLog(app, openid) {
		log = append(log, e.Direction+"/"+e.MsgType+"/"+e.Via)
	}
	if want := "in/text/user,out/text/custom_send,out/text/custom_send,out/image/custom_send"; strings.Join(log, ",") != want {
		t.Fatalf("the user's log after the image: %v, want %s", log, want)
	}

	// A subscribe message without consent: refused, on the page.
	// The template comes from the library, browsed and added in the console.
	lib := "/authorizers/" + app + "/subscribe/library" + q
	if st, page := c.get(lib + "&category=616"); st != 200 || !strings.Contains(page, `data-tid="1001"`) {
		t.Fatalf("library of category 616: HTTP %d, without tid 1001:\n%s", st, page)
	}
	if _, page := c.get(lib + "&category=616&tid=1001"); !strings.Contains(page, `name="kid" value="3"`) {
		t.Fatalf("tid 1001's keywords are not offered:\n%s", page)
	}
	if st, page := c.post("/authorizers/"+app+"/subscribe/templates"+q+"&category=616&tid=1001", url.Values{"tid": {"1001"}, "kid": {"1", "99"}}); st != 409 || !strings.Contains(page, "200020") {
		t.Fatalf("add with a bad keyword: HTTP %d, want 409 naming WeChat's 200020", st)
	}
	st, loc = c.post("/authorizers/"+app+"/subscribe/templates"+q, url.Values{"tid": {"1001"}, "kid": {"1", "2", "3"}, "scene_desc": {"外卖"}})
	m := regexp.MustCompile(`added=([^&]+)`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("add template: HTTP %d → %q", st, loc)
	}
	tpl := struct{ TemplateID string }{m[1]}
	if _, page := c.get("/authorizers/" + app + "/subscribe" + q); !strings.Contains(page, `data-template="`+tpl.TemplateID+`"`) {
		t.Fatal("the subscribe page lacks the template")
	}
	st, page := c.post("/authorizers/"+app+"/subscribe/send"+q, url.Values{"openid": {openid}, "template_id": {tpl.TemplateID},
		"data": {"thing1=宫保鸡丁\ncharacter_string2=20261203001\ntime3=2026-12-03 12:30"}})
	if st != 403 || !strings.Contains(page, "43101") || !strings.Contains(page, `role="alert"`) || !strings.Contains(page, "宫保鸡丁") {
		t.Fatalf("subscribe send without consent: HTTP %d, want 403 naming 43101 with the form kept:\n%s", st, page)
	}

	// Past the window on WeChat's clock: WeChat's refusal, shown.
	d.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "49h"}, nil)
	st, page = c.post(conv, url.Values{"content": {"还在吗"}})
	if st != 409 || !strings.Contains(page, "45015") || !strings.Contains(page, `role="alert"`) || !strings.Contains(page, ">还在吗</textarea>") {
		t.Fatalf("reply after 49 h: HTTP %d, want 409 naming 45015 with the text kept:\n%s", st, page)
	}
	if n := len(d.userLog(app, openid)); n != 4 {
		t.Fatalf("the user got %d messages, want still 4", n)
	}
}

// A coupon made from the console's form: a title WeChat refuses is shown
// with its reason (45021) and the form kept; a good one is listed pending,
// is approved by WeChat's review push, and shows 1 issued after a user
// receives it.
func TestConsoleCoupon(t *testing.T) {
	d := bootDemo(t)
	app := d.authorizeOA()
	c := d.console()
	q := "?platform=" + demoPlatform.AppID
	page := "/authorizers/" + app + "/cards" + q
	if st, body := c.get(page); st != 200 || !strings.Contains(body, `id="new-coupon"`) {
		t.Fatalf("cards page: HTTP %d", st)
	}
	form := url.Values{"card_type": {"GENERAL_COUPON"}, "title": {"满100减20"}, "brand_name": {"西湖生活"},
		"logo_url": {"http://mmbiz.qpic.cn/mmbiz/demo-logo/0"}, "notice": {"出示二维码核销"}, "description": {"不与其他优惠同享"},
		"color": {"Color020"}, "quantity": {"500"}, "fixed_term": {"30"}, "default_detail": {"全场满100元减20元"}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("title", "一二三四五六七八九十")
	if st, body := c.post("/authorizers/"+app+"/cards"+q, bad); st != 400 || !strings.Contains(body, "45021") || !strings.Contains(body, `value="一二三四五六七八九十"`) {
		t.Fatalf("a 10-character title: HTTP %d, want 400 naming 45021 with the form kept", st)
	}
	// The refusal's language switch returns to the cards page (a GET), not the form's POST.
	if st, body := c.post("/authorizers/"+app+"/cards/pNone/consume"+q, url.Values{"code": {"1"}}); st < 400 ||
		!strings.Contains(strings.ToLower(body), strings.ToLower("next=%2fauthorizers%2f"+app+"%2fcards%3fplatform")) {
		t.Fatalf("a refused consume: HTTP %d; its language switch does not return to the cards page", st)
	}
	if st, body := c.post("/authorizers/"+app+"/cards"+q, url.Values{"card_type": {"CASH"}, "title": {"x"}, "reduce_cost": {"lots"}}); st != 400 || !strings.Contains(body, "reduce_cost") {
		t.Fatalf("a reduce_cost that is no number: HTTP %d, want 400 naming it", st)
	}
	st, loc := c.post("/authorizers/"+app+"/cards"+q, form)
	m := regexp.MustCompile(`made=([^&]+)`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("create coupon: HTTP %d → %q", st, loc)
	}
	cardID := m[1]
	var card apiCard
	if st := d.api("GET", "/api/v1/authorizers/"+app+"/cards/"+cardID, nil, &card); st != 200 || card.Title != "满100减20" || card.CardType != "GENERAL_COUPON" {
		t.Fatalf("the card made: HTTP %d %+v", st, card)
	}
	if _, body := c.get(page); !strings.Contains(body, `data-card="`+cardID+`"`) || !strings.Contains(body, "审核中") {
		t.Fatalf("the cards page lacks pending card %s", cardID)
	}
	d.sandbox("POST", "/sandbox/api/clock", map[string]string{"advance": "10s"}, nil)
	d.eventually("the card approved on the page", func() bool {
		_, body := c.get(page)
		return strings.Contains(body, "已通过")
	})
	var got struct {
		Code string `json:"code"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/"+app+"/cards/"+cardID+"/receive", map[string]string{"openid": "oDemoUser1"}, &got); st != 200 {
		t.Fatalf("receive: HTTP %d", st)
	}
	d.eventually("1 issued on the page", func() bool {
		_, body := c.get(page)
		return strings.Contains(body, `<td class="issued">1</td><td class="redeemed">0</td>`)
	})
	// Redeemed from the console; a second redemption is refused naming WeChat's 40099.
	consume := "/authorizers/" + app + "/cards/" + cardID + "/consume" + q
	if st, loc := c.post(consume, url.Values{"code": {got.Code}}); st != http.StatusSeeOther || !strings.Contains(loc, "consumed=oDemoUser1") {
		t.Fatalf("consume: HTTP %d → %q", st, loc)
	}
	if _, body := c.get(page); !strings.Contains(body, `<td class="issued">1</td><td class="redeemed">1</td>`) {
		t.Fatal("the cards page does not show 1 redeemed")
	}
	if st, body := c.post(consume, url.Values{"code": {got.Code}}); st != 409 || !strings.Contains(body, "40099") || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("second consume: HTTP %d, want 409 naming 40099", st)
	}
}

// Wi-Fi and WeChat Pay from the console: a shop's device added by the form
// and its QR code served as a PNG; a sub-merchant application submitted by
// the form, shown under review, then with WeChat Pay's rejection reason.
func TestConsoleWiFiAndPay(t *testing.T) {
	d := bootDemo(t)
	oa := d.authorizeOA()
	c := d.console()
	q := "?platform=" + demoPlatform.AppID
	var shop struct {
		ShopID int64 `json:"shop_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/"+oa+"/wifi/shops", map[string]string{"shop_name": "断桥店"}, &shop); st != 200 {
		t.Fatalf("add shop: HTTP %d", st)
	}
	if _, body := c.get("/authorizers/" + oa + "/wifi" + q); !strings.Contains(body, "断桥店") || !strings.Contains(body, "还没有设备") {
		t.Fatal("the Wi-Fi page lacks the shop without devices")
	}
	shopPath := "/authorizers/" + oa + "/wifi/" + strconv.FormatInt(shop.ShopID, 10)
	if st, body := c.post(shopPath+"/devices"+q, url.Values{"ssid": {"Lakeside"}, "password": {"12345678"}}); st != 400 || !strings.Contains(body, "40097") {
		t.Fatalf("an ssid without WX: HTTP %d, want 400 naming 40097", st)
	}
	if st, body := c.post(shopPath+"/devices"+q, url.Values{"ssid": {"WX-Lakeside"}, "password": {"west-lake-8"}}); st != 201 || !strings.Contains(body, `id="devices"`) {
		t.Fatalf("add device: HTTP %d", st)
	}
	if _, body := c.get("/authorizers/" + oa + "/wifi" + q); !strings.Contains(body, `src="`+shopPath+"/qrcode"+q+`"`) {
		t.Fatal("the Wi-Fi page shows no QR code for the shop with a device")
	}
	req, _ := http.NewRequest("GET", d.Platform.URL()+shopPath+"/qrcode"+q, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !strings.HasPrefix(string(img), "\x89PNG") {
		t.Fatalf("qrcode: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	app := d.miniPrograms()[0].AppID
	d.authorizeApp(app)
	b, _ := json.Marshal(payForm("wxf_console_1"))
	if st, body := c.post("/pay/applyments"+q, url.Values{"form": {"{not json"}}); st != 400 || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("a form that is no JSON: HTTP %d", st)
	}
	st, loc := c.post("/pay/applyments"+q, url.Values{"form": {string(b)}, "appid": {app}})
	m := regexp.MustCompile(`^/pay/applyments/(\d+)\?`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("submit: HTTP %d → %q", st, loc)
	}
	if _, body := c.get(loc); !strings.Contains(body, "审核中") {
		t.Fatalf("the application page does not show it under review:\n%s", body)
	}
	if _, body := c.get("/pay" + q); !strings.Contains(body, `data-applyment="`+m[1]+`"`) || strings.Contains(body, "110101199003070000") {
		t.Fatal("the pay page lacks the application (or shows its id number)")
	}
	d.decide("wxf_console_1", map[string]string{"result": "reject", "reason": "身份证国徽面照片模糊，请重新上传", "field": "id_card_national", "field_name": "身份证国徽面"})
	if _, body := c.get(loc); !strings.Contains(body, "已驳回") || !strings.Contains(body, "身份证国徽面照片模糊，请重新上传") {
		t.Fatalf("the application page lacks the rejection and its reason:\n%s", body)
	}
	consoleStructuredApplyment(t, d, c, app)
}
