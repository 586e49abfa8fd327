package main

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet/sandbox"
)

// authorizeOA authorizes the sandbox's official account 西湖生活服务 with every
// permission set it offers (cards and Wi-Fi among them).
func (d *testDemo) authorizeOA() string {
	d.t.Helper()
	app := sandbox.AppLifeOA
	var link struct {
		PCURL string `json:"pc_url"`
	}
	d.api("POST", "/api/v1/authorization-links", map[string]any{"auth_type": 1}, &link)
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": app}, nil); st != 200 {
		d.t.Fatalf("authorize: HTTP %d", st)
	}
	d.eventually("authorized", func() bool {
		a, st := d.authorizer(app)
		return st == 200 && a.Status == "authorized" && a.TokenExpiresAt != ""
	})
	return app
}

type apiCard struct {
	CardID       string `json:"card_id"`
	CardType     string `json:"card_type"`
	Title        string `json:"title"`
	ReviewStatus string `json:"review_status"`
	RefuseReason string `json:"refuse_reason"`
	Issued       int    `json:"issued"`
	Redeemed     int    `json:"redeemed"`
}

type apiError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

func couponCard(title, description string) map[string]any {
	return map[string]any{"card_type": "GENERAL_COUPON", "general_coupon": map[string]any{
		"default_detail": "全场满100元减20元",
		"base_info": map[string]any{
			"logo_url": "http://mmbiz.qpic.cn/mmbiz/demo-logo/0", "brand_name": "西湖生活", "code_type": "CODE_TYPE_QRCODE",
			"title": title, "color": "Color020", "notice": "出示二维码核销", "description": description,
			"sku": map[string]any{"quantity": 500}, "date_info": map[string]any{"type": "DATE_TYPE_FIX_TERM", "fixed_term": 30},
		}}}
}

// A coupon created through the platform is reviewed on WeChat (the pass
// push), a user receives it (user_get_card), the merchant redeems it through
// the platform (user_consume_card): issued 1, redeemed 1, and a second
// redemption is refused naming WeChat's 40099. A rejected card shows
// WeChat's reason. Both pushes arrive through the real message URL.
func TestCardsEndToEnd(t *testing.T) {
	d := bootDemo(t)
	app := d.authorizeOA()
	base := "/api/v1/authorizers/" + app + "/cards"

	var bad apiError
	if st := d.api("POST", base, map[string]any{"card": couponCard("一二三四五六七八九十", "x")}, &bad); st != 400 || !strings.Contains(bad.MessageEN, "45021") {
		t.Fatalf("a 10-character title: HTTP %d %+v, want 400 naming WeChat's 45021", st, bad)
	}
	var c apiCard
	if st := d.api("POST", base, map[string]any{"card": couponCard("满100减20", "不与其他优惠同享")}, &c); st != 201 || c.ReviewStatus != "pending" || c.Title != "满100减20" {
		t.Fatalf("create: HTTP %d %+v", st, c)
	}
	if st := d.sandbox("POST", "/sandbox/api/clock", map[string]string{"advance": "10s"}, nil); st != 200 {
		t.Fatalf("clock: HTTP %d", st)
	}
	d.eventually("card_pass_check applied", func() bool {
		d.api("GET", base+"/"+c.CardID, nil, &c)
		return c.ReviewStatus == "approved"
	})

	var got struct {
		Code string `json:"code"`
		Push struct {
			OK bool `json:"ok"`
		} `json:"push"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/"+app+"/cards/"+c.CardID+"/receive", map[string]string{"openid": "oDemoUser1"}, &got); st != 200 || got.Code == "" || !got.Push.OK {
		t.Fatalf("receive: HTTP %d %+v", st, got)
	}
	d.eventually("user_get_card applied", func() bool {
		d.api("GET", base+"/"+c.CardID, nil, &c)
		return c.Issued == 1
	})
	var consumed struct {
		OpenID string  `json:"openid"`
		Card   apiCard `json:"card"`
	}
	if st := d.api("POST", base+"/"+c.CardID+"/consume", map[string]string{"code": got.Code}, &consumed); st != 200 || consumed.OpenID != "oDemoUser1" {
		t.Fatalf("consume: HTTP %d %+v", st, consumed)
	}
	// The user_consume_card push WeChat sends after the consume arrives and
	// is applied once: still 1 redeemed.
	d.eventually("user_consume_card stored", func() bool {
		var evs struct {
			Items []struct {
				Type string `json:"type"`
			} `json:"items"`
		}
		d.api("GET", "/api/v1/events?appid="+app, nil, &evs)
		for _, e := range evs.Items {
			if strings.Contains(e.Type, "user_consume_card") {
				return true
			}
		}
		return false
	})
	var list struct {
		Items []apiCard `json:"items"`
	}
	d.api("GET", base, nil, &list)
	if len(list.Items) != 1 || list.Items[0].Issued != 1 || list.Items[0].Redeemed != 1 {
		t.Fatalf("cards = %+v, want issued 1, redeemed 1", list.Items)
	}
	var again apiError
	if st := d.api("POST", base+"/"+c.CardID+"/consume", map[string]string{"code": got.Code}, &again); st != 409 ||
		again.Code != "conflict" || !strings.Contains(again.Message, "40099") {
		t.Fatalf("second consume: HTTP %d %+v, want 409 naming 40099", st, again)
	}

	// A consume whose answer is lost on the way back: the platform reads the
	// code, finds it consumed, and reports the redemption once.
	var second struct {
		Code string `json:"code"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+app+"/cards/"+c.CardID+"/receive", map[string]string{"openid": "oDemoUser2"}, &second)
	if st := d.sandbox("POST", "/sandbox/api/faults", map[string]any{"path": "/card/code/consume", "lose_answer": true, "count": 1}, nil); st != 200 {
		t.Fatalf("fault: HTTP %d", st)
	}
	if st := d.api("POST", base+"/"+c.CardID+"/consume", map[string]string{"code": second.Code}, &consumed); st != 200 ||
		consumed.OpenID != "oDemoUser2" || consumed.Card.Redeemed != 2 {
		t.Fatalf("consume with a lost answer: HTTP %d %+v", st, consumed)
	}
	var calls struct {
		Calls map[string]int `json:"calls"`
	}
	d.sandbox("GET", "/sandbox/api/calls", nil, &calls)
	if n := calls.Calls["/card/code/consume"]; n != 3 {
		t.Fatalf("/card/code/consume called %d times, want 3 (the lost one not resent)", n)
	}

	// A rejected card shows WeChat's reason.
	if st := d.sandbox("POST", "/sandbox/api/card-rules", map[string]any{"reject_words": []string{"最低价"}}, nil); st != 200 {
		t.Fatalf("card-rules: HTTP %d", st)
	}
	var r apiCard
	if st := d.api("POST", base, map[string]any{"card": couponCard("特惠券", "全网最低价")}, &r); st != 201 {
		t.Fatalf("create: HTTP %d", st)
	}
	d.sandbox("POST", "/sandbox/api/clock", map[string]string{"advance": "10s"}, nil)
	d.eventually("card_not_pass_check applied", func() bool {
		d.api("GET", base+"/"+r.CardID, nil, &r)
		return r.ReviewStatus == "rejected"
	})
	if !strings.Contains(r.RefuseReason, "最低价") {
		t.Fatalf("refuse reason %q does not carry WeChat's words", r.RefuseReason)
	}
}

// A Wi-Fi device added through the platform to a shop, and the shop's
// connect QR code fetched through the platform: a real PNG.
func TestWiFiDeviceAndQRCode(t *testing.T) {
	d := bootDemo(t)
	app := d.authorizeOA()
	var shop struct {
		ShopID int64 `json:"shop_id"`
	}
	if st := d.sandbox("POST", "/sandbox/api/apps/"+app+"/wifi/shops", map[string]string{"shop_name": "断桥店"}, &shop); st != 200 {
		t.Fatalf("add shop: HTTP %d", st)
	}
	var shops struct {
		Total int `json:"total"`
		Items []struct {
			ShopID   int64  `json:"shop_id"`
			ShopName string `json:"shop_name"`
		} `json:"items"`
	}
	if st := d.api("GET", "/api/v1/authorizers/"+app+"/wifi/shops", nil, &shops); st != 200 || shops.Total != 1 || shops.Items[0].ShopName != "断桥店" {
		t.Fatalf("shops: HTTP %d %+v", st, shops)
	}
	base := "/api/v1/authorizers/" + app + "/wifi/shops/" + strconv.FormatInt(shop.ShopID, 10)
	var bad apiError
	if st := d.api("POST", base+"/devices", map[string]string{"ssid": "Lakeside", "password": "12345678"}, &bad); st != 400 || !strings.Contains(bad.MessageEN, "40097") {
		t.Fatalf("ssid without WX: HTTP %d %+v", st, bad)
	}
	var devs struct {
		Items []struct {
			SSID  string `json:"ssid"`
			BSSID string `json:"bssid"`
		} `json:"items"`
	}
	if st := d.api("POST", base+"/devices", map[string]string{"ssid": "WX-Lakeside", "password": "west-lake-8"}, &devs); st != 201 ||
		len(devs.Items) != 1 || devs.Items[0].SSID != "WX-Lakeside" {
		t.Fatalf("add device: HTTP %d %+v", st, devs)
	}
	req, _ := http.NewRequest("GET", d.Platform.URL()+base+"/qrcode", nil)
	req.Header.Set("Authorization", "Bearer "+d.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qrcode: HTTP %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), img)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("qrcode is no PNG: %v", err)
	}
}
