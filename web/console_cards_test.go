package web

import (
	"encoding/json"
	"testing"
)

// The card form's member card: permanent without a term, the three required
// fields always sent (false included), auto_activate only when ticked.
func TestMemberCardForm(t *testing.T) {
	f := couponForm{CardType: "MEMBER_CARD", Title: "金卡会员", Quantity: "10", Prerogative: "九折", SupplyBonus: true}
	raw, err := f.card()
	if err != nil {
		t.Fatal(err)
	}
	var card struct {
		CardType   string `json:"card_type"`
		MemberCard struct {
			BaseInfo struct {
				DateInfo map[string]any `json:"date_info"`
			} `json:"base_info"`
			Prerogative   string `json:"prerogative"`
			SupplyBonus   *bool  `json:"supply_bonus"`
			SupplyBalance *bool  `json:"supply_balance"`
			AutoActivate  *bool  `json:"auto_activate"`
		} `json:"member_card"`
	}
	if err := json.Unmarshal(raw, &card); err != nil {
		t.Fatal(err)
	}
	m := card.MemberCard
	if card.CardType != "MEMBER_CARD" || m.BaseInfo.DateInfo["type"] != "DATE_TYPE_PERMANENT" || m.Prerogative != "九折" ||
		m.SupplyBonus == nil || !*m.SupplyBonus || m.SupplyBalance == nil || *m.SupplyBalance || m.AutoActivate != nil {
		t.Fatalf("member card = %s", raw)
	}
	f.FixedTerm, f.AutoActivate = "365", true
	raw, _ = f.card()
	json.Unmarshal(raw, &card)
	if card.MemberCard.BaseInfo.DateInfo["type"] != "DATE_TYPE_FIX_TERM" || card.MemberCard.AutoActivate == nil {
		t.Fatalf("member card with a term = %s", raw)
	}
}
