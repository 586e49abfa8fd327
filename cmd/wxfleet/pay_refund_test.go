package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wxfleet/wxfleet"
)

type refundView struct {
	OutRefundNo string `json:"out_refund_no"`
	Amount      int64  `json:"amount"`
	RefundID    string `json:"refund_id"`
	Status      string `json:"status"`
	SucceededAt string `json:"succeeded_at"`
}

// Refunds: a paid order refunded in part through the API, WeChat Pay
// refusing more than is left; the REFUND.SUCCESS notification verified and
// stored once (sent again, it stores nothing), the refund shown succeeded;
// an unpaid order cannot be refunded; a refusal for too little balance is
// worded for the operator.
func TestPayRefundEndToEnd(t *testing.T) {
	d := bootDemo(t)
	rcv := hookPayEvents(t, d)
	app, sub, token := payReady(t, d, "wxf_refund_1")
	d.payOrder(token, "wxf_refund_0001", 1500)
	d.payOrder(token, "wxf_refund_0002", 300)
	if st := d.api("POST", "/api/v1/pay/orders/wxf_refund_0002/refunds", map[string]any{"amount": 100}, nil); st != 409 {
		t.Fatalf("refunding an unpaid order: %d", st)
	}
	if st := d.sandbox("POST", "/sandbox/api/pay/orders/wxf_refund_0001/pay", map[string]string{"sub_mchid": sub}, nil); st != 200 {
		t.Fatalf("pay: %d", st)
	}
	d.eventually("the order paid", func() bool {
		var o orderView
		d.api("GET", "/api/v1/pay/orders/wxf_refund_0001", nil, &o)
		return o.State == "SUCCESS"
	})
	const path = "/api/v1/pay/orders/wxf_refund_0001/refunds"
	if st := d.api("POST", path, map[string]any{"amount": 1501}, nil); st != 400 {
		t.Fatalf("refunding more than the order: %d", st)
	}
	// WeChat Pay answers PROCESSING; its REFUND.SUCCESS may be stored before that answer is.
	var f refundView
	if st := d.api("POST", path, map[string]any{"amount": 1000, "reason": "少了一份卤蛋", "out_refund_no": "wxf_rf_0001"}, &f); st != 201 ||
		(f.Status != "PROCESSING" && f.Status != "SUCCESS") || f.RefundID == "" || f.Amount != 1000 {
		t.Fatalf("refund: %d %+v", st, f)
	}
	// 500 left: WeChat Pay refuses 600 (INVALID_REQUEST), and nothing is kept of it.
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if st := d.api("POST", path, map[string]any{"amount": 600}, &e); st != 400 || !strings.Contains(e.Message, "INVALID_REQUEST") {
		t.Fatalf("refunding more than is left: %d %+v", st, e)
	}
	// The sub-merchant's balance too low (NOT_ENOUGH, 403): the operator is
	// told so, and nothing is kept of it.
	if st := d.sandbox("POST", "/sandbox/api/pay/sub-merchants/"+sub+"/refund-refusal", map[string]string{"code": "NOT_ENOUGH"}, nil); st != 200 {
		t.Fatalf("refusal: %d", st)
	}
	if st := d.api("POST", path, map[string]any{"amount": 100}, &e); st != 409 || !strings.Contains(e.Message, "NOT_ENOUGH") || !strings.Contains(e.Message, "余额不足") {
		t.Fatalf("refunding with too little balance: %d %+v", st, e)
	}
	if st := d.sandbox("POST", "/sandbox/api/pay/sub-merchants/"+sub+"/refund-refusal", map[string]string{"code": ""}, nil); st != 200 {
		t.Fatalf("refusal cleared: %d", st)
	}
	// The same out_refund_no again: the same refund, not a second one.
	var again refundView
	if st := d.api("POST", path, map[string]any{"amount": 1000, "out_refund_no": "wxf_rf_0001"}, &again); st != 201 || again.RefundID != f.RefundID {
		t.Fatalf("the same refund again: %d %+v (first %+v)", st, again, f)
	}
	var list struct {
		Items []refundView `json:"items"`
	}
	d.eventually("the refund notification recorded", func() bool {
		d.api("GET", path, nil, &list)
		return len(list.Items) == 1 && list.Items[0].Status == "SUCCESS"
	})
	if list.Items[0].RefundID != f.RefundID || list.Items[0].SucceededAt == "" {
		t.Fatalf("refunds %+v", list)
	}
	var log struct {
		Items []struct {
			ID        string            `json:"id"`
			EventType string            `json:"event_type"`
			Acked     bool              `json:"acked"`
			Attempts  []json.RawMessage `json:"attempts"`
		} `json:"items"`
	}
	d.sandbox("GET", "/sandbox/api/pay/notifications", nil, &log)
	refundNote := ""
	for _, n := range log.Items {
		if n.EventType == "REFUND.SUCCESS" {
			refundNote = n.ID
		}
	}
	if refundNote == "" {
		t.Fatalf("no refund notification in %+v", log)
	}
	for range 2 {
		var at struct {
			Status int `json:"status"`
		}
		if st := d.sandbox("POST", "/sandbox/api/pay/notifications/"+refundNote+"/resend", nil, &at); st != 200 || at.Status != 204 {
			t.Fatalf("resend: %d, the platform answered %d", st, at.Status)
		}
	}
	stored, err := d.Platform.Store.PayNotifications(context.Background(), wxfleet.Scope{}, demoPlatform.AppID, sub, "wxf_refund_0001")
	if err != nil {
		t.Fatal(err)
	}
	refunds := 0
	for _, n := range stored {
		if n.EventType == "REFUND.SUCCESS" {
			refunds++
			if n.ID != refundNote || n.TradeState != "SUCCESS" || !strings.Contains(string(n.Resource), `"out_refund_no":"wxf_rf_0001"`) {
				t.Fatalf("stored refund notification %+v", n)
			}
		}
	}
	if refunds != 1 || len(stored) != 2 {
		t.Fatalf("%d refund notifications stored, %d in all", refunds, len(stored))
	}
	d.eventually("pay.refund delivered", func() bool { return len(rcv.of("pay.refund", app)) > 0 })
	var ev struct {
		OutRefundNo string `json:"out_refund_no"`
		RefundID    string `json:"refund_id"`
		Status      string `json:"status"`
		Amount      int64  `json:"amount"`
	}
	json.Unmarshal(rcv.of("pay.refund", app)[0].Data, &ev)
	if ev.OutRefundNo != "wxf_rf_0001" || ev.RefundID != f.RefundID || ev.Status != "SUCCESS" || ev.Amount != 1000 {
		t.Fatalf("pay.refund %+v", ev)
	}
	if n := d.countRows(t, `SELECT COUNT(*) FROM webhook_events WHERE type = 'pay.refund'`); n != 1 {
		t.Fatalf("%d pay.refund events for one refund", n)
	}
	if n := d.countRows(t, `SELECT COUNT(*) FROM webhook_events WHERE type = 'pay.paid'`); n != 1 {
		t.Fatalf("%d pay.paid events for one payment", n)
	}
	if st := d.api("GET", path+"?refresh=true", nil, &list); st != 200 || len(list.Items) != 1 || list.Items[0].Status != "SUCCESS" {
		t.Fatalf("refreshed refunds: %d %+v", st, list)
	}
	// The order, asked about, is REFUND at WeChat Pay and stays paid here.
	var o orderView
	if st := d.api("GET", "/api/v1/pay/orders/wxf_refund_0001?refresh=true", nil, &o); st != 200 || o.State != "SUCCESS" || o.TradeState != "REFUND" {
		t.Fatalf("refreshed refunded order: %d %+v", st, o)
	}
}
