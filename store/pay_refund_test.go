package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// testPayRefunds: refunds stored once per out_refund_no, their states, the
// refund notification stored once; a payment learnt by query and by
// notification recorded once; unpaid orders listed for the reconciliation.
func testPayRefunds(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxA", "wx1")))
	order := func(no string, created time.Time, prepay string) {
		t.Helper()
		must(t, h.CreatePayOrder(h.ctx, &wxfleet.PayOrder{ComponentAppID: "wxA", OutTradeNo: no, SubMchID: "sub1", AppID: "wx1",
			OpenID: "o1", Description: "面", Amount: 1000, State: wxfleet.OrderNotPaid, CreatedAt: created}))
		if prepay != "" {
			must(t, h.SetPayOrderPrepay(h.ctx, "wxA", "sub1", no, prepay))
		}
	}
	order("o_old", base.Add(-48*time.Hour), "wx_p0")
	order("o_1", base, "wx_p1")
	order("o_2", base.Add(time.Minute), "wx_p2")
	order("o_unplaced", base, "")

	// Unpaid, placed, in the window: o_1 only (o_2 too young, o_old too old, o_unplaced never placed).
	list, err := h.UnpaidPayOrders(h.ctx, base.Add(-24*time.Hour), base.Add(30*time.Second), 10, false)
	must(t, err)
	if len(list) != 1 || list[0].OutTradeNo != "o_1" {
		t.Fatalf("unpaid %+v", list)
	}
	// With the unplaced ones (the auto-close): o_1 and o_unplaced.
	list, err = h.UnpaidPayOrders(h.ctx, base.Add(-24*time.Hour), base.Add(30*time.Second), 10, true)
	must(t, err)
	if len(list) != 2 || list[0].OutTradeNo != "o_1" || list[1].OutTradeNo != "o_unplaced" {
		t.Fatalf("unpaid with the unplaced %+v", list)
	}

	// then runs once per new record, inside its transaction.
	thens := 0
	count := store.Then(func(ctx context.Context, tx *sql.Tx) error { thens++; return nil })
	// Paid by query first, then the notification: one record, the order paid.
	q := &wxfleet.PayNotification{ID: "QUERY-tx1", ComponentAppID: "wxA", EventType: "TRANSACTION.SUCCESS", TransactionID: "tx1",
		OutTradeNo: "o_1", SubMchID: "sub1", TradeState: wxfleet.OrderPaid, Resource: []byte(`{}`), ReceivedAt: base}
	if ok, err := h.RecordPayNotification(h.ctx, q, base, count); err != nil || !ok {
		t.Fatalf("query record: %v %v", ok, err)
	}
	n := *q
	n.ID = "EV-1"
	if ok, err := h.RecordPayNotification(h.ctx, &n, base.Add(time.Minute), count); err != nil || ok {
		t.Fatalf("the notification after the query: new=%v %v", ok, err)
	}
	o, err := h.PayOrder(h.ctx, wxfleet.Scope{}, "wxA", "sub1", "o_1")
	must(t, err)
	if o.State != wxfleet.OrderPaid || o.TransactionID != "tx1" || !o.PaidAt.Equal(base) {
		t.Fatalf("paid order %+v", o)
	}
	if changed, err := h.ClosePayOrder(h.ctx, "wxA", "sub1", "o_1", count); err != nil || changed {
		t.Fatalf("closing a paid order: %v %v", changed, err)
	}
	if changed, err := h.ClosePayOrder(h.ctx, "wxA", "sub1", "o_2", count); err != nil || !changed {
		t.Fatalf("closing an unpaid order: %v %v", changed, err)
	}
	if changed, err := h.ClosePayOrder(h.ctx, "wxA", "sub1", "o_2", count); err != nil || changed {
		t.Fatalf("closing a closed order: %v %v", changed, err)
	}
	if byNo, err := h.PayOrdersByNo(h.ctx, wxfleet.Scope{}, "wxA", "o_2"); err != nil || len(byNo) != 1 || byNo[0].State != wxfleet.OrderClosed {
		t.Fatalf("by number %+v %v", byNo, err)
	}

	// Refunds.
	f := &wxfleet.PayRefund{ComponentAppID: "wxA", SubMchID: "sub1", OutRefundNo: "r1", OutTradeNo: "o_1", AppID: "wx1", Amount: 600,
		Reason: "少一份", CreatedAt: base}
	must(t, h.CreatePayRefund(h.ctx, f))
	must(t, h.CreatePayRefund(h.ctx, f)) // the same again
	other := *f
	other.Amount = 300
	wantCode(t, h.CreatePayRefund(h.ctx, &other), wxfleet.ECONFLICT)
	must(t, h.CreatePayRefund(h.ctx, &wxfleet.PayRefund{ComponentAppID: "wxA", SubMchID: "sub1", OutRefundNo: "r2", OutTradeNo: "o_1", AppID: "wx1", Amount: 500, CreatedAt: base.Add(time.Second)}))
	must(t, h.DropUnplacedPayRefund(h.ctx, "wxA", "sub1", "r2"))
	must(t, h.SetPayRefundState(h.ctx, "wxA", "sub1", "r1", "503001", wxfleet.RefundProcessing, time.Time{}))
	rn := &wxfleet.PayNotification{ID: "EV-R1", ComponentAppID: "wxA", EventType: "REFUND.SUCCESS", TransactionID: "503001",
		OutTradeNo: "o_1", SubMchID: "sub1", TradeState: wxfleet.RefundSuccess, Resource: []byte(`{}`), ReceivedAt: base}
	if ok, err := h.RecordRefundNotification(h.ctx, rn, "r1", base.Add(time.Hour), count); err != nil || !ok {
		t.Fatalf("refund notification: %v %v", ok, err)
	}
	again := *rn
	again.ID = "EV-R1-again"
	if ok, err := h.RecordRefundNotification(h.ctx, &again, "r1", base.Add(2*time.Hour), count); err != nil || ok {
		t.Fatalf("the refund's event again: new=%v %v", ok, err)
	}
	// A stale PROCESSING answer does not undo the success.
	must(t, h.SetPayRefundState(h.ctx, "wxA", "sub1", "r1", "503001", wxfleet.RefundProcessing, time.Time{}))
	refunds, err := h.PayRefunds(h.ctx, "wxA", "sub1", "o_1")
	must(t, err)
	if len(refunds) != 1 || refunds[0].Status != wxfleet.RefundSuccess || refunds[0].RefundID != "503001" ||
		!refunds[0].SucceededAt.Equal(base.Add(time.Hour)) || refunds[0].Reason != "少一份" {
		t.Fatalf("refunds %+v", refunds)
	}
	if thens != 3 {
		t.Fatalf("then ran %d times for two new records and a close", thens)
	}
	ns, err := h.PayNotifications(h.ctx, wxfleet.Scope{}, "wxA", "sub1", "o_1")
	must(t, err)
	if len(ns) != 2 {
		t.Fatalf("%d notifications stored, want the payment's and the refund's", len(ns))
	}
}
