package sandbox

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
)

// coupon is a valid GENERAL_COUPON body; edit changes its base_info.
func coupon(edit func(base map[string]any)) map[string]any {
	base := map[string]any{
		"logo_url": "http://mmbiz.qpic.cn/mmbiz/sandbox-logo/0", "brand_name": "西湖生活", "code_type": "CODE_TYPE_QRCODE",
		"title": "满100减20", "color": "Color010", "notice": "出示二维码核销", "description": "不与其他优惠同享",
		"sku":       map[string]any{"quantity": 100},
		"date_info": map[string]any{"type": "DATE_TYPE_FIX_TERM", "fixed_term": 30, "fixed_begin_term": 0},
	}
	if edit != nil {
		edit(base)
	}
	return map[string]any{"card": map[string]any{"card_type": "GENERAL_COUPON",
		"general_coupon": map[string]any{"base_info": base, "default_detail": "全场满100元减20元"}}}
}

func TestCardCreateIsStrict(t *testing.T) {
	e := newCodeEnv(t, AppLifeOA, AppBakery)
	cases := []struct {
		name string
		body any
		want int
	}{
		{"empty body", "", 44002},
		{"bad json", "{", 47001},
		{"no card", map[string]any{}, 41011},
		{"unknown card_type", map[string]any{"card": map[string]any{"card_type": "VOUCHER", "voucher": map[string]any{}}}, 40071},
		{"inner object of another type", map[string]any{"card": map[string]any{"card_type": "CASH",
			"general_coupon": coupon(nil)["card"].(map[string]any)["general_coupon"]}}, 41011},
		{"title of 10 characters", coupon(func(b map[string]any) { b["title"] = "一二三四五六七八九十" }), 45021},
		{"brand_name of 13 characters", coupon(func(b map[string]any) { b["brand_name"] = strings.Repeat("店", 13) }), 45021},
		{"notice of 17 characters", coupon(func(b map[string]any) { b["notice"] = strings.Repeat("请", 17) }), 45021},
		{"missing title", coupon(func(b map[string]any) { delete(b, "title") }), 41011},
		{"missing sku", coupon(func(b map[string]any) { delete(b, "sku") }), 41011},
		{"bad code_type", coupon(func(b map[string]any) { b["code_type"] = "CODE_TYPE_NFC" }), 40097},
		{"bad color", coupon(func(b map[string]any) { b["color"] = "red" }), 40076},
		{"logo not uploaded to WeChat", coupon(func(b map[string]any) { b["logo_url"] = "https://example.com/logo.png" }), 40097},
		{"permanent coupon", coupon(func(b map[string]any) { b["date_info"] = map[string]any{"type": "DATE_TYPE_PERMANENT"} }), 40079},
		{"range in the past", coupon(func(b map[string]any) {
			b["date_info"] = map[string]any{"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": 1000, "end_timestamp": 2000}
		}), 40079},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/create", c.body), c.want)
		})
	}
	// Cards belong to official accounts: a mini program's token is refused.
	wantErr(t, e.call(http.MethodPost, AppBakery, "/card/create", coupon(nil)), 48001)
	out := e.call(http.MethodPost, AppLifeOA, "/card/create", coupon(nil))
	wantErr(t, out, 0)
	if id := str(out, "card_id"); len(id) != 28 || id[0] != 'p' {
		t.Errorf("card_id %q is not shaped like WeChat's", id)
	}
	// Another account's card is unknown to this one.
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/get", map[string]string{"card_id": "pNotACard"}), 40073)
}

func TestCardNeedsItsPermissionSet(t *testing.T) {
	e := newCodeEnv(t)
	e.authorizeApp(AppLifeOA, []int{1, 2})
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/create", coupon(nil)), 61007)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/shop/list", map[string]int{"pageindex": 1, "pagesize": 10}), 61007)
}

func TestCardReviewReceiveConsume(t *testing.T) {
	e := newCodeEnv(t, AppLifeOA)
	out := e.call(http.MethodPost, AppLifeOA, "/card/create", coupon(nil))
	wantErr(t, out, 0)
	cardID := str(out, "card_id")
	get := e.call(http.MethodPost, AppLifeOA, "/card/get", map[string]string{"card_id": cardID})
	if s := get["card"].(map[string]any)["general_coupon"].(map[string]any)["base_info"].(map[string]any)["status"]; s != cardNotVerify {
		t.Fatalf("status before review = %v", s)
	}
	// Not approved yet: no user can receive it.
	if status, _ := e.do(http.MethodPost, "/sandbox/api/apps/"+AppLifeOA+"/cards/"+cardID+"/receive", map[string]any{}); status != http.StatusConflict {
		t.Fatalf("receive before review: HTTP %d", status)
	}
	e.later("10s")
	pass := waitFor(t, e.plat.messages, "Event", "card_pass_check")
	if pass.Fields["CardId"] != cardID {
		t.Fatalf("card_pass_check for %q", pass.Fields["CardId"])
	}
	status, rec := e.do(http.MethodPost, "/sandbox/api/apps/"+AppLifeOA+"/cards/"+cardID+"/receive", map[string]any{"openid": "oUserA"})
	if status != http.StatusOK {
		t.Fatalf("receive: HTTP %d %v", status, rec)
	}
	code := str(rec, "code")
	got := waitFor(t, e.plat.messages, "Event", "user_get_card")
	if got.Fields["UserCardCode"] != code || got.Fields["FromUserName"] != "oUserA" || got.Fields["CardId"] != cardID {
		t.Fatalf("user_get_card = %v", got.Fields)
	}
	cg := e.call(http.MethodPost, AppLifeOA, "/card/code/get", map[string]any{"code": code, "card_id": cardID, "check_consume": true})
	wantErr(t, cg, 0)
	if str(cg, "openid") != "oUserA" || str(cg, "user_card_status") != "NORMAL" || cg["can_consume"] != true {
		t.Fatalf("code/get = %v", cg)
	}
	dec := e.call(http.MethodPost, AppLifeOA, "/card/code/decrypt", map[string]string{"encrypt_code": str(rec, "encrypt_code")})
	if str(dec, "code") != code {
		t.Fatalf("decrypt = %v", dec)
	}
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/code/decrypt", map[string]string{"encrypt_code": "bm90IGEgY29kZQ=="}), 40075)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/code/consume", map[string]string{"code": "000000000000"}), 40056)
	cons := e.call(http.MethodPost, AppLifeOA, "/card/code/consume", map[string]string{"code": code})
	wantErr(t, cons, 0)
	if str(cons, "openid") != "oUserA" {
		t.Fatalf("consume = %v", cons)
	}
	used := waitFor(t, e.plat.messages, "Event", "user_consume_card")
	if used.Fields["UserCardCode"] != code || used.Fields["ConsumeSource"] != "FROM_API" {
		t.Fatalf("user_consume_card = %v", used.Fields)
	}
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/code/consume", map[string]string{"code": code}), 40099)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/code/get", map[string]any{"code": code}), 40099)

	_, list := e.do(http.MethodGet, "/sandbox/api/apps/"+AppLifeOA+"/cards", nil)
	cards := list["cards"].([]any)
	c := cards[0].(map[string]any)
	if len(cards) != 1 || num(c, "issued") != 1 || num(c, "consumed") != 1 {
		t.Fatalf("cards = %v", cards)
	}
	// The state survives a restart.
	e.restart()
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/code/consume", map[string]string{"code": code}), 40099)
}

func TestCardRejected(t *testing.T) {
	e := newCodeEnv(t, AppLifeOA)
	if status, out := e.do(http.MethodPost, "/sandbox/api/card-rules", map[string]any{"reject_words": []string{"最低价"}, "delay": "1m"}); status != http.StatusOK {
		t.Fatalf("card-rules: %d %v", status, out)
	}
	out := e.call(http.MethodPost, AppLifeOA, "/card/create", coupon(func(b map[string]any) { b["description"] = "全网最低价" }))
	wantErr(t, out, 0)
	e.later("30s")
	_, list := e.do(http.MethodGet, "/sandbox/api/apps/"+AppLifeOA+"/cards", nil)
	if c := list["cards"].([]any)[0].(map[string]any); str(c, "status") != cardNotVerify {
		t.Fatalf("decided before its delay: %v", c)
	}
	e.later("31s")
	in := waitFor(t, e.plat.messages, "Event", "card_not_pass_check")
	if in.Fields["CardId"] != str(out, "card_id") || !strings.Contains(in.Fields["RefuseReason"], "最低价") {
		t.Fatalf("card_not_pass_check = %v", in.Fields)
	}
}

func TestWiFiShopDeviceQRCode(t *testing.T) {
	e := newCodeEnv(t, AppLifeOA, AppBakery)
	status, shop := e.do(http.MethodPost, "/sandbox/api/apps/"+AppLifeOA+"/wifi/shops", map[string]string{"shop_name": "西湖店"})
	if status != http.StatusOK {
		t.Fatalf("add shop: %d %v", status, shop)
	}
	if status, _ := e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/wifi/shops", map[string]string{"shop_name": "x"}); status != http.StatusBadRequest {
		t.Fatalf("shop for a mini program: HTTP %d", status)
	}
	id := num(shop, "shop_id")
	list := e.call(http.MethodPost, AppLifeOA, "/bizwifi/shop/list", map[string]int{"pageindex": 1, "pagesize": 10})
	wantErr(t, list, 0)
	if data := list["data"].(map[string]any); num(data, "totalcount") != 1 {
		t.Fatalf("shop/list = %v", list)
	}
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/shop/list", map[string]int{"pageindex": 1, "pagesize": 21}), 40097)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/device/add", map[string]any{"shop_id": id, "ssid": "Lake", "password": "12345678"}), 40097)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/device/add", map[string]any{"shop_id": id, "ssid": "WX-Lake", "password": "short"}), 40097)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/device/add", map[string]any{"shop_id": id + 1, "ssid": "WX-Lake", "password": "12345678"}), 40097)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/device/add", map[string]any{"shop_id": id, "ssid": "WX-Lake"}), 41011)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/device/add", map[string]any{"shop_id": id, "ssid": "WX-Lake", "password": "12345678"}), 0)
	devs := e.call(http.MethodPost, AppLifeOA, "/bizwifi/device/list", map[string]any{"pageindex": 1, "pagesize": 10, "shop_id": id})
	recs := devs["data"].(map[string]any)["records"].([]any)
	if len(recs) != 1 || str(recs[0].(map[string]any), "ssid") != "WX-Lake" {
		t.Fatalf("device/list = %v", devs)
	}
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/qrcode/get", map[string]any{"shop_id": id, "ssid": "WX-Other", "img_id": 0}), 40097)
	qr := e.call(http.MethodPost, AppLifeOA, "/bizwifi/qrcode/get", map[string]any{"shop_id": id, "ssid": "WX-Lake", "img_id": 1})
	wantErr(t, qr, 0)
	u := str(qr["data"].(map[string]any), "qrcode_url")
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qrcode_url %s: %s", u, resp.Header.Get("Content-Type"))
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("qrcode_url is no PNG: %v", err)
	}
	bssid := str(recs[0].(map[string]any), "bssid")
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/device/delete", map[string]string{"bssid": bssid}), 0)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/bizwifi/device/delete", map[string]string{"bssid": bssid}), 40097)
}

// A code past its validity (fixed_term days from receipt) is the table's
// 40127 to consume and, checking, to read; unchecked it reads EXPIRE.
func TestCardCodeExpired(t *testing.T) {
	e := newCodeEnv(t, AppLifeOA)
	out := e.call(http.MethodPost, AppLifeOA, "/card/create", coupon(func(b map[string]any) {
		b["date_info"] = map[string]any{"type": "DATE_TYPE_FIX_TERM", "fixed_term": 1, "fixed_begin_term": 0}
	}))
	wantErr(t, out, 0)
	cardID := str(out, "card_id")
	e.later("10s")
	waitFor(t, e.plat.messages, "Event", "card_pass_check")
	status, rec := e.do(http.MethodPost, "/sandbox/api/apps/"+AppLifeOA+"/cards/"+cardID+"/receive", map[string]any{"openid": "oUserB"})
	if status != http.StatusOK {
		t.Fatalf("receive: HTTP %d %v", status, rec)
	}
	code := str(rec, "code")
	e.later("25h")
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/code/consume", map[string]string{"code": code}), 40127)
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/code/get", map[string]any{"code": code}), 40127)
	cg := e.call(http.MethodPost, AppLifeOA, "/card/code/get", map[string]any{"code": code, "check_consume": false})
	wantErr(t, cg, 0)
	if str(cg, "user_card_status") != "EXPIRE" || cg["can_consume"] != false {
		t.Fatalf("code/get unchecked = %v", cg)
	}
}
