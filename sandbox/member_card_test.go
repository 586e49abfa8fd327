package sandbox

import (
	"net/http"
	"strings"
	"testing"
)

// memberCard is a valid MEMBER_CARD body; edit changes member_card.
func memberCard(edit func(mc map[string]any)) map[string]any {
	base := coupon(func(b map[string]any) {
		b["title"] = "金卡会员"
		b["date_info"] = map[string]any{"type": "DATE_TYPE_PERMANENT"}
	})["card"].(map[string]any)["general_coupon"].(map[string]any)["base_info"]
	mc := map[string]any{"base_info": base, "prerogative": "会员全场九折，生日双倍积分", "supply_bonus": true, "supply_balance": false,
		"auto_activate": true, "background_pic_url": "https://mmbiz.qpic.cn/mmbiz/sandbox-bg/0",
		"custom_field1": map[string]any{"name_type": "FIELD_NAME_TYPE_LEVEL", "url": "https://example.com/level"},
		"bonus_rule":    map[string]any{"cost_money_unit": 100, "increase_bonus": 1, "max_increase_bonus": 200},
		"discount":      10}
	if edit != nil {
		edit(mc)
	}
	return map[string]any{"card": map[string]any{"card_type": "MEMBER_CARD", "member_card": mc}}
}

func TestMemberCardCreateIsStrict(t *testing.T) {
	e := newCodeEnv(t, AppLifeOA)
	cases := []struct {
		name string
		edit func(mc map[string]any)
		want int
	}{
		{"no prerogative", func(mc map[string]any) { delete(mc, "prerogative") }, 41011},
		{"no supply_bonus", func(mc map[string]any) { delete(mc, "supply_bonus") }, 41011},
		{"no supply_balance", func(mc map[string]any) { delete(mc, "supply_balance") }, 41011},
		{"supply_bonus not a bool", func(mc map[string]any) { mc["supply_bonus"] = "yes" }, 47001},
		{"prerogative over 1024 characters", func(mc map[string]any) { mc["prerogative"] = strings.Repeat("享", 1025) }, 45021},
		{"background not on WeChat's CDN", func(mc map[string]any) { mc["background_pic_url"] = "https://example.com/bg.png" }, 40097},
		{"activate_url over 128 bytes", func(mc map[string]any) { mc["activate_url"] = "https://example.com/" + strings.Repeat("a", 120) }, 45021},
		{"unknown name_type", func(mc map[string]any) { mc["custom_field1"] = map[string]any{"name_type": "FIELD_NAME_TYPE_VIP"} }, 40097},
		{"custom field without a name", func(mc map[string]any) { mc["custom_field2"] = map[string]any{"url": "https://example.com"} }, 41011},
		{"negative bonus rule", func(mc map[string]any) { mc["bonus_rule"] = map[string]any{"increase_bonus": -1} }, 40097},
		{"discount 100", func(mc map[string]any) { mc["discount"] = 100 }, 40097},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/create", memberCard(c.edit)), c.want)
		})
	}
	// base_info's rules hold for member cards too.
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/create", memberCard(func(mc map[string]any) {
		mc["base_info"].(map[string]any)["title"] = "一二三四五六七八九十"
	})), 45021)

	out := e.call(http.MethodPost, AppLifeOA, "/card/create", memberCard(nil))
	wantErr(t, out, 0)
	got := e.call(http.MethodPost, AppLifeOA, "/card/get", map[string]string{"card_id": str(out, "card_id")})
	wantErr(t, got, 0)
	card, _ := got["card"].(map[string]any)
	mc, _ := card["member_card"].(map[string]any)
	if card["card_type"] != "MEMBER_CARD" || mc["prerogative"] != "会员全场九折，生日双倍积分" || mc["supply_bonus"] != true {
		t.Errorf("card/get = %v", got)
	}
	// A name of the merchant's instead of a name_type is fine.
	wantErr(t, e.call(http.MethodPost, AppLifeOA, "/card/create", memberCard(func(mc map[string]any) {
		mc["custom_field1"] = map[string]any{"name": "储值卡", "url": "https://example.com/x"}
	})), 0)
}
