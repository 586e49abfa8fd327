package sandbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func couponBody(title string) map[string]any {
	return map[string]any{"card": map[string]any{"card_type": "GENERAL_COUPON", "general_coupon": map[string]any{
		"base_info": map[string]any{"logo_url": "http://mmbiz.qpic.cn/logo", "brand_name": "面包店", "code_type": "CODE_TYPE_QRCODE",
			"title": title, "color": "Color010", "notice": "出示二维码", "description": "每人限一张", "sku": map[string]int{"quantity": 1},
			"date_info": map[string]any{"type": "DATE_TYPE_FIX_TERM", "fixed_term": 30, "fixed_begin_term": 0}},
		"default_detail": "满 50 减 10"}}}
}

func TestCardsCreateReviewTakeConsume(t *testing.T) {
	e := newCapEnv(t)
	api := func(path string, body any) map[string]any { return e.wx(path+"?access_token="+e.access, body) }
	wantErr(t, api("/card/create", map[string]any{"card": map[string]any{"card_type": "NOPE"}}), 47001)
	wantErr(t, api("/card/create", map[string]any{"card": map[string]any{"card_type": "CASH"}}), 47001) // no cash object
	wantErr(t, api("/card/create", couponBody("一个超过九个字的优惠券名称")), 47001)
	created := api("/card/create", couponBody("满减券"))
	wantErr(t, created, 0)
	id := str(created, "card_id")
	if !strings.HasPrefix(id, "p") || len(id) != 28 {
		t.Fatalf("card_id = %q", id)
	}
	got := api("/card/get", map[string]string{"card_id": id})
	if !strings.Contains(fmtJSON(got), cardNotVerify) {
		t.Errorf("card/get = %v", got)
	}
	wantErr(t, api("/card/get", map[string]string{"card_id": "pNOPE"}), 40073)

	take := func() (int, map[string]any) {
		return e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/cards/"+id+"/take", map[string]string{"openid": e.openid})
	}
	if st, _ := take(); st != http.StatusConflict {
		t.Fatalf("taking an unreviewed card: HTTP %d", st)
	}
	if st, _ := e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/cards/"+id+"/review", map[string]any{"pass": true}); st != 200 {
		t.Fatalf("review: HTTP %d", st)
	}
	in := waitFor(t, e.plat.messages, "Event", "card_pass_check")
	if in.Fields["CardId"] != id {
		t.Errorf("card_pass_check = %v", in.Fields)
	}
	st, took := take()
	code := str(took, "code")
	if st != 200 || len(code) != 12 {
		t.Fatalf("take: HTTP %d %v", st, took)
	}
	in = waitFor(t, e.plat.messages, "Event", "user_get_card")
	if in.Fields["UserCardCode"] != code || in.Fields["CardId"] != id || in.Fields["FromUserName"] != e.openid || in.Fields["IsGiveByFriend"] != "0" {
		t.Errorf("user_get_card = %v", in.Fields)
	}
	if st, _ := take(); st != http.StatusConflict { // the stock was one
		t.Fatalf("taking past the stock: HTTP %d", st)
	}
	info := api("/card/code/get", map[string]string{"code": code, "card_id": id})
	if str(info, "openid") != e.openid || info["can_consume"] != true || str(info, "user_card_status") != "NORMAL" {
		t.Errorf("code/get = %v", info)
	}
	wantErr(t, api("/card/code/get", map[string]string{"code": "000000000000"}), 40056)
	used := api("/card/code/consume", map[string]string{"code": code})
	if errcode(used) != 0 || str(used, "openid") != e.openid {
		t.Fatalf("consume = %v", used)
	}
	in = waitFor(t, e.plat.messages, "Event", "user_consume_card")
	if in.Fields["UserCardCode"] != code || in.Fields["ConsumeSource"] != "FROM_API" {
		t.Errorf("user_consume_card = %v", in.Fields)
	}
	wantErr(t, api("/card/code/consume", map[string]string{"code": code}), 40099)
	wantErr(t, api("/card/code/get", map[string]string{"code": code}), 40099)
	if got := api("/card/code/get", map[string]any{"code": code, "check_consume": false}); str(got, "user_card_status") != "CONSUMED" {
		t.Errorf("code/get without the check = %v", got)
	}

	// A rejected class says why; the state survives a restart.
	other := str(api("/card/create", couponBody("折扣券")), "card_id")
	e.do(http.MethodPost, "/sandbox/api/apps/"+AppBakery+"/cards/"+other+"/review", map[string]any{"pass": false, "reason": "logo 不清晰"})
	in = waitFor(t, e.plat.messages, "Event", "card_not_pass_check")
	if in.Fields["RefuseReason"] != "logo 不清晰" {
		t.Errorf("card_not_pass_check = %v", in.Fields)
	}
	e.restart()
	wantErr(t, api("/card/code/consume", map[string]string{"code": code}), 40099)
}

func fmtJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
