package store_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
)

func testPay(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxA", "wx1")))

	// The merchant: keys sealed, bound to the platform's row.
	_, err := h.PayMerchant(h.ctx, "wxA")
	wantCode(t, err, wxfleet.ENOTFOUND)
	m := &wxfleet.PayMerchant{ComponentAppID: "wxA", SpMchID: "1900000109", SpAppID: "wxsp", CertSerial: "ABC",
		PrivateKey: "-----PRIVATE plaintext-----", APIv3Key: "apiv3-plaintext-0123456789abcdef", PublicKeyID: "PUB_KEY_ID_1",
		PublicKey: "-----PUBLIC-----", BaseURL: "http://sandbox", NotifyURL: "http://p/pay/notify", UpdatedAt: base}
	must(t, h.PutPayMerchant(h.ctx, m))
	m.CertSerial = "DEF"
	must(t, h.PutPayMerchant(h.ctx, m))
	got, err := h.PayMerchant(h.ctx, "wxA")
	must(t, err)
	if got.CertSerial != "DEF" || got.PrivateKey != m.PrivateKey || got.APIv3Key != m.APIv3Key || got.PublicKey != m.PublicKey || got.BaseURL != "http://sandbox" {
		t.Fatalf("merchant %+v", got)
	}
	_, err = h.PayMerchant(h.ctx, "wxB")
	wantCode(t, err, wxfleet.ENOTFOUND)
	wantCode(t, h.PutPayMerchant(h.ctx, &wxfleet.PayMerchant{ComponentAppID: "wxA"}), wxfleet.EINVALID)
	raw := h.rawDB(t)
	var key, apiKey string
	must(t, raw.QueryRowContext(h.ctx, `SELECT private_key_sealed, apiv3_key_sealed FROM pay_merchants WHERE component_appid = 'wxA'`).Scan(&key, &apiKey))
	if strings.Contains(key+apiKey, "plaintext") {
		t.Fatal("pay keys rest in the clear")
	}
	if list, err := h.PayMerchants(h.ctx); err != nil || len(list) != 1 {
		t.Fatalf("merchants %v %v", list, err)
	}

	// Applications: saved, resubmitted under the same business_code, the form sealed.
	tenant := int64(7)
	a := &wxfleet.PayApplyment{ComponentAppID: "wxA", BusinessCode: "biz_1", AppID: "wx1", TenantID: &tenant, Shortname: "小吃",
		Form: json.RawMessage(`{"contact_info":{"contact_name":"张三-plaintext"}}`), ApplymentID: 200, State: wxfleet.ApplymentAuditing,
		CreatedAt: base, UpdatedAt: base}
	must(t, h.SavePayApplyment(h.ctx, a))
	first := a.ID
	a.State, a.AuditDetail, a.UpdatedAt = wxfleet.ApplymentRejected, []wxfleet.PayAuditDetail{{Field: "id_card_copy", FieldName: "身份证", RejectReason: "模糊"}}, base.Add(time.Minute)
	must(t, h.UpdatePayApplymentState(h.ctx, a))
	ga, err := h.PayApplyment(h.ctx, wxfleet.Scope{}, "wxA", first)
	must(t, err)
	if ga.State != wxfleet.ApplymentRejected || len(ga.AuditDetail) != 1 || ga.AuditDetail[0].RejectReason != "模糊" || *ga.TenantID != 7 ||
		!strings.Contains(string(ga.Form), "张三-plaintext") {
		t.Fatalf("applyment %+v", ga)
	}
	_, err = h.PayApplyment(h.ctx, wxfleet.Scope{}, "wxB", first) // another platform's id
	wantCode(t, err, wxfleet.ENOTFOUND)
	re := &wxfleet.PayApplyment{ComponentAppID: "wxA", BusinessCode: "biz_1", Form: json.RawMessage(`{"v":2}`), State: wxfleet.ApplymentAuditing, CreatedAt: base, UpdatedAt: base}
	must(t, h.SavePayApplyment(h.ctx, re))
	if re.ID != first {
		t.Fatalf("resubmission got id %d, want %d", re.ID, first)
	}
	bc, err := h.PayApplymentByCode(h.ctx, "wxA", "biz_1")
	must(t, err)
	if string(bc.Form) != `{"v":2}` || len(bc.AuditDetail) != 0 || bc.State != wxfleet.ApplymentAuditing {
		t.Fatalf("resubmitted %+v", bc)
	}
	var form string
	must(t, raw.QueryRowContext(h.ctx, `SELECT form_sealed FROM pay_applyments WHERE id = $1`, first).Scan(&form))
	if strings.Contains(form, `"v":2`) {
		t.Fatal("the form rests in the clear")
	}

	// The list: the platform's applications, newest first, without their forms.
	second := &wxfleet.PayApplyment{ComponentAppID: "wxA", BusinessCode: "biz_2", Form: json.RawMessage(`{"v":3}`), State: wxfleet.ApplymentAuditing, CreatedAt: base, UpdatedAt: base}
	must(t, h.SavePayApplyment(h.ctx, second))
	must(t, h.SavePayApplyment(h.ctx, &wxfleet.PayApplyment{ComponentAppID: "wxB", BusinessCode: "biz_b", Form: json.RawMessage(`{}`), CreatedAt: base, UpdatedAt: base}))
	apps, err := h.PayApplyments(h.ctx, wxfleet.Scope{}, "wxA", 10)
	must(t, err)
	if len(apps) != 2 || apps[0].BusinessCode != "biz_2" || apps[1].BusinessCode != "biz_1" || apps[1].State != wxfleet.ApplymentAuditing ||
		apps[0].Form != nil || apps[1].Form != nil {
		t.Fatalf("applyments of wxA: %+v", apps)
	}
	if list, err := h.PayApplyments(h.ctx, wxfleet.Scope{}, "wxA", 1); err != nil || len(list) != 1 || list[0].BusinessCode != "biz_2" {
		t.Fatalf("one applyment: %+v %v", list, err)
	}

	// Bindings: one sub-merchant per mini program, the authorizer must exist.
	_, err = h.PaySubMerchant(h.ctx, wxfleet.Scope{}, "wxA", "wx1")
	wantCode(t, err, wxfleet.ENOTFOUND)
	must(t, h.BindPaySubMerchant(h.ctx, &wxfleet.PaySubMerchant{ComponentAppID: "wxA", AppID: "wx1", SubMchID: "1600000001", CreatedAt: base}))
	must(t, h.BindPaySubMerchant(h.ctx, &wxfleet.PaySubMerchant{ComponentAppID: "wxA", AppID: "wx1", SubMchID: "1600000002", TenantID: &tenant, CreatedAt: base}))
	b, err := h.PaySubMerchant(h.ctx, wxfleet.Scope{}, "wxA", "wx1")
	must(t, err)
	if b.SubMchID != "1600000002" || b.TenantID == nil || *b.TenantID != 7 {
		t.Fatalf("binding %+v", b)
	}
	wantCode(t, h.BindPaySubMerchant(h.ctx, &wxfleet.PaySubMerchant{ComponentAppID: "wxA", AppID: "wx-none", SubMchID: "1", CreatedAt: base}), wxfleet.ENOTFOUND)
	if list, err := h.PaySubMerchants(h.ctx, wxfleet.Scope{}, "wxA"); err != nil || len(list) != 1 || list[0].AppID != "wx1" || list[0].SubMchID != "1600000002" {
		t.Fatalf("bindings of wxA: %+v %v", list, err)
	}
	if list, err := h.PaySubMerchants(h.ctx, wxfleet.Scope{}, "wxB"); err != nil || len(list) != 0 {
		t.Fatalf("bindings of wxB: %+v %v", list, err)
	}

	// Orders and notifications: stored once, the order paid once.
	o := &wxfleet.PayOrder{ComponentAppID: "wxA", OutTradeNo: "no_000001", SubMchID: "1600000002", AppID: "wx1", OpenID: "o1",
		Description: "面", Amount: 100, State: wxfleet.OrderNotPaid, CreatedAt: base}
	must(t, h.CreatePayOrder(h.ctx, o))
	must(t, h.CreatePayOrder(h.ctx, o)) // the same order again: fine
	other := *o
	other.Amount = 200
	other.CreatedAt = base.Add(time.Second)
	wantCode(t, h.CreatePayOrder(h.ctx, &other), wxfleet.ECONFLICT)
	must(t, h.CreatePayOrder(h.ctx, &wxfleet.PayOrder{ComponentAppID: "wxA", OutTradeNo: "no_refused", SubMchID: o.SubMchID, AppID: "wx1", OpenID: "o1", Description: "x", Amount: 1, State: wxfleet.OrderNotPaid, CreatedAt: base}))
	must(t, h.DropUnplacedPayOrder(h.ctx, "wxA", o.SubMchID, "no_refused"))
	must(t, h.SetPayOrderPrepay(h.ctx, "wxA", o.SubMchID, o.OutTradeNo, "wx_prepay"))
	must(t, h.DropUnplacedPayOrder(h.ctx, "wxA", o.SubMchID, o.OutTradeNo)) // placed: kept
	n := &wxfleet.PayNotification{ID: "EV-1", ComponentAppID: "wxA", EventType: "TRANSACTION.SUCCESS", TransactionID: "4200001",
		OutTradeNo: o.OutTradeNo, SubMchID: o.SubMchID, TradeState: wxfleet.OrderPaid, Resource: json.RawMessage(`{"x":1}`), ReceivedAt: base}
	for i, want := range []bool{true, false} {
		inserted, err := h.RecordPayNotification(h.ctx, n, base.Add(time.Minute), nil)
		must(t, err)
		if inserted != want {
			t.Fatalf("record #%d: inserted %v", i, inserted)
		}
	}
	// Another id for the same transaction and event: stored once too.
	n2 := *n
	n2.ID = "EV-2"
	if inserted, err := h.RecordPayNotification(h.ctx, &n2, base, nil); err != nil || inserted {
		t.Fatalf("same transaction, another id: %v %v", inserted, err)
	}
	list, err := h.PayNotifications(h.ctx, wxfleet.Scope{}, "wxA", o.SubMchID, o.OutTradeNo)
	must(t, err)
	if len(list) != 1 || string(list[0].Resource) != `{"x":1}` {
		t.Fatalf("notifications %+v", list)
	}
	paid, err := h.PayOrder(h.ctx, wxfleet.Scope{}, "wxA", o.SubMchID, o.OutTradeNo)
	must(t, err)
	if paid.State != wxfleet.OrderPaid || paid.TransactionID != "4200001" || paid.PrepayID != "wx_prepay" || !paid.PaidAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("paid order %+v", paid)
	}
	orders, err := h.PayOrders(h.ctx, wxfleet.Scope{}, "wxA", "wx1", 10)
	must(t, err)
	if len(orders) != 1 {
		t.Fatalf("orders %v", orders)
	}
	if orders, _ := h.PayOrders(h.ctx, wxfleet.Scope{}, "wxB", "", 10); len(orders) != 0 {
		t.Fatalf("another platform sees %v", orders)
	}
}
