package store_test

import (
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
)

func testCards(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxA", "wxOA")))
	all := wxfleet.Scope{}
	must(t, h.PutCard(h.ctx, &wxfleet.Card{ComponentAppID: "wxA", AppID: "wxOA", CardID: "pC1", TenantID: 7,
		CardType: "GENERAL_COUPON", Title: "满100减20", CreatedAt: base}))
	// A review pushed before the create's row exists keeps its verdict.
	must(t, h.SetCardReview(h.ctx, "wxA", "wxOA", "pC2", false, "含有违规内容", base.Add(time.Second)))
	must(t, h.PutCard(h.ctx, &wxfleet.Card{ComponentAppID: "wxA", AppID: "wxOA", CardID: "pC2", CardType: "CASH", Title: "代金券",
		CreatedAt: base.Add(2 * time.Second)}))
	c2, err := h.Card(h.ctx, all, "wxA", "wxOA", "pC2")
	must(t, err)
	if c2.ReviewStatus != wxfleet.CardRejected || c2.RefuseReason != "含有违规内容" || c2.Title != "代金券" || c2.TenantID != 0 {
		t.Fatalf("pC2 = %+v", c2)
	}
	must(t, h.SetCardReview(h.ctx, "wxA", "wxOA", "pC1", true, "ignored", base.Add(time.Minute)))

	for range 2 { // a retried push is applied once
		_, err := h.RecordCardReceived(h.ctx, "wxA", "wxOA", "pC1", "111", "oU", base.Add(2*time.Minute))
		must(t, err)
	}
	ins, err := h.RecordCardReceived(h.ctx, "wxA", "wxOA", "pC1", "111", "oU", base)
	must(t, err)
	if ins {
		t.Fatal("a known code inserted again")
	}
	_, err = h.RecordCardReceived(h.ctx, "wxA", "wxOA", "pC1", "222", "oV", base.Add(3*time.Minute))
	must(t, err)
	first, err := h.RecordCardConsumed(h.ctx, "wxA", "wxOA", "pC1", "111", "oU", "FROM_API", base.Add(4*time.Minute))
	must(t, err)
	again, err := h.RecordCardConsumed(h.ctx, "wxA", "wxOA", "pC1", "111", "oU", "FROM_MOBILE_HELPER", base.Add(5*time.Minute))
	must(t, err)
	if !first || again {
		t.Fatalf("consume first=%v again=%v", first, again)
	}
	c1, err := h.Card(h.ctx, all, "wxA", "wxOA", "pC1")
	must(t, err)
	if c1.ReviewStatus != wxfleet.CardApproved || c1.RefuseReason != "" || c1.Issued != 2 || c1.Redeemed != 1 || c1.TenantID != 7 ||
		!c1.ReviewedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("pC1 = %+v", c1)
	}
	// Scopes: tenant 7 sees its card only; tenant 8 none of them.
	list, err := h.Cards(h.ctx, wxfleet.Scope{TenantID: 7}, "wxA", "wxOA")
	must(t, err)
	if len(list) != 1 || list[0].CardID != "pC1" {
		t.Fatalf("tenant 7 cards = %+v", list)
	}
	_, err = h.Card(h.ctx, wxfleet.Scope{TenantID: 8}, "wxA", "wxOA", "pC1")
	wantCode(t, err, wxfleet.ENOTFOUND)
	list, err = h.Cards(h.ctx, all, "wxA", "wxOA")
	must(t, err)
	if len(list) != 2 || list[0].CardID != "pC2" {
		t.Fatalf("cards = %+v", list)
	}
	wantCode(t, h.PutCard(h.ctx, &wxfleet.Card{ComponentAppID: "wxA", AppID: "wx-none", CardID: "pX"}), wxfleet.ENOTFOUND)
}
