package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// A member card (会员卡) made from the console's card form: without its
// privileges WeChat's 41011 is shown with the form kept; with them it is made
// as a MEMBER_CARD (the form's JSON itself: web's TestMemberCardForm).
func TestConsoleMemberCard(t *testing.T) {
	d := bootDemo(t)
	app := d.authorizeOA()
	c := d.console()
	q := "?platform=" + demoPlatform.AppID
	if _, body := c.get("/authorizers/" + app + "/cards" + q); !strings.Contains(body, `<option value="MEMBER_CARD"`) || !strings.Contains(body, `id="member-card"`) {
		t.Fatal("the card form offers no member card")
	}
	form := url.Values{"card_type": {"MEMBER_CARD"}, "title": {"金卡会员"}, "brand_name": {"西湖生活"},
		"logo_url": {"http://mmbiz.qpic.cn/mmbiz/demo-logo/0"}, "notice": {"出示会员码"}, "description": {"会员专享"},
		"quantity": {"1000"}, "supply_bonus": {"1"}, "auto_activate": {"1"}}
	if st, body := c.post("/authorizers/"+app+"/cards"+q, form); st != 400 || !strings.Contains(body, "41011") || !strings.Contains(body, `value="金卡会员"`) {
		t.Fatalf("a member card without prerogative: HTTP %d, want 400 naming 41011 with the form kept", st)
	}
	form.Set("prerogative", "全场九折，生日双倍积分")
	st, loc := c.post("/authorizers/"+app+"/cards"+q, form)
	m := regexp.MustCompile(`made=([^&]+)`).FindStringSubmatch(loc)
	if st != http.StatusSeeOther || m == nil {
		t.Fatalf("create member card: HTTP %d → %q", st, loc)
	}
	var card apiCard
	if st := d.api("GET", "/api/v1/authorizers/"+app+"/cards/"+m[1], nil, &card); st != 200 || card.CardType != "MEMBER_CARD" || card.Title != "金卡会员" {
		t.Fatalf("the card made: HTTP %d %+v", st, card)
	}
	// WeChat (the sandbox) holds it as a member card.
	var cards struct {
		Cards []struct {
			CardID   string `json:"card_id"`
			CardType string `json:"card_type"`
		} `json:"cards"`
	}
	if st := d.sandbox("GET", "/sandbox/api/apps/"+app+"/cards", nil, &cards); st != 200 || len(cards.Cards) != 1 || cards.Cards[0].CardType != "MEMBER_CARD" {
		t.Fatalf("the sandbox's cards: HTTP %d %+v", st, cards)
	}
}
