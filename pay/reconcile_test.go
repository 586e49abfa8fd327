package pay

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/sandbox"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// clock is a settable Now.
type clock struct {
	mu sync.Mutex
	at time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.at }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.at = c.at.Add(d)
	c.mu.Unlock()
}

func post(t *testing.T, url string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// sandboxPay is a Service with its own store and injected clock, paying
// through a fresh sandbox; a sub-merchant onboarded under code (an
// application approved) and bound to wxapp0000000001 on both sides.
type sandboxPay struct {
	s   *Service
	st  *store.Store
	clk *clock
	url string // the sandbox
	sub string
}

func newSandboxPay(t *testing.T, b storetest.Backend, code string) *sandboxPay {
	t.Helper()
	ctx := context.Background()
	sb, err := sandbox.New(sandbox.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Components: []sandbox.Component{{AppID: "wxcomponent00001", Secret: "s", Token: "t", AESKey: strings.Repeat("a", 43), Name: "测试"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	st := b.New(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.UpsertPlatform(ctx, &wxfleet.Platform{AppID: "wxcomponent00001", Name: "测试", Token: "t", AESKey: wxfleet.Secret(strings.Repeat("a", 43)), Secret: "s"}))
	must(st.UpsertAuthorizer(ctx, &wxfleet.Authorizer{ComponentAppID: "wxcomponent00001", AppID: "wxapp0000000001", IsMiniProgram: true,
		Status: wxfleet.StatusAuthorized, AuthorizedAt: time.Now(), UpdatedAt: time.Now()}))
	clk := &clock{at: time.Now()}
	s := &Service{Store: st, Now: clk.now, Logger: slog.New(slog.DiscardHandler)}
	resp, err := http.Get(srv.URL + "/sandbox/api/pay/merchant")
	must(err)
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	must(s.Configure(ctx, &wxfleet.PayMerchant{ComponentAppID: "wxcomponent00001", SpMchID: m["sp_mchid"], SpAppID: m["sp_appid"],
		CertSerial: m["cert_serial"], PrivateKey: wxfleet.Secret(m["private_key"]), APIv3Key: wxfleet.Secret(m["apiv3_key"]),
		PublicKeyID: m["wechatpay_public_key_id"], PublicKey: m["wechatpay_public_key"], BaseURL: srv.URL, NotifyURL: "http://127.0.0.1:1/pay/notify"}))

	form := map[string]any{
		"business_code": code,
		"contact_info":  map[string]any{"contact_name": "张三", "mobile_phone": "13900000000", "contact_email": "a@example.com"},
		"subject_info": map[string]any{"subject_type": "SUBJECT_TYPE_INDIVIDUAL",
			"business_license_info": map[string]any{"license_copy": "m1", "license_number": "92440300MA5EXAMPLE", "merchant_name": "张三面馆", "legal_person": "张三"},
			"identity_info": map[string]any{"id_doc_type": "IDENTIFICATION_TYPE_IDCARD", "id_card_info": map[string]any{
				"id_card_copy": "m2", "id_card_national": "m3", "id_card_name": "张三", "id_card_number": "110101199003070000"}}},
		"business_info":     map[string]any{"merchant_shortname": "张三面馆", "service_phone": "0755-00000000", "sales_info": map[string]any{"sales_scenes_type": []string{"SALES_SCENES_MINI_PROGRAM"}}},
		"settlement_info":   map[string]any{"settlement_id": "719", "qualification_type": "餐饮"},
		"bank_account_info": map[string]any{"bank_account_type": "BANK_ACCOUNT_TYPE_PERSONAL", "account_name": "张三", "account_bank": "工商银行", "bank_address_code": "110000", "account_number": "6222000000000000"},
	}
	a, err := s.SubmitApplyment(ctx, wxfleet.Scope{}, ApplymentRequest{ComponentAppID: "wxcomponent00001", AppID: "wxapp0000000001", Form: form})
	must(err)
	if st := post(t, srv.URL+"/sandbox/api/pay/applyments/"+code+"/decide", map[string]string{"result": "approve"}, nil); st != 200 {
		t.Fatalf("approve: %d", st)
	}
	a, err = s.Applyment(ctx, wxfleet.Scope{}, "wxcomponent00001", a.ID)
	must(err)
	sub := a.SubMchID
	if st := post(t, srv.URL+"/sandbox/api/pay/sub-merchants/"+sub+"/appids", map[string]string{"appid": "wxapp0000000001"}, nil); st != 200 {
		t.Fatalf("sandbox bind: %d", st)
	}
	must(s.Bind(ctx, &wxfleet.PaySubMerchant{ComponentAppID: "wxcomponent00001", AppID: "wxapp0000000001", SubMchID: sub}))
	return &sandboxPay{s: s, st: st, clk: clk, url: srv.URL, sub: sub}
}

// The reconciliation against the sandbox: a paid order whose notification
// was lost is asked about once it is old enough and recorded paid, once; a
// closed order is recorded closed; a young one is not asked about. Refunds:
// the sandbox's refusal of more than is left reaches the caller with WeChat
// Pay's code and keeps nothing.
func TestReconcileAndRefundAgainstTheSandbox(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		p := newSandboxPay(t, b, "biz_rec_1")
		s, st, clk, sub := p.s, p.st, p.clk, p.sub
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		rs := &wxfleet.RuntimeSession{ComponentAppID: "wxcomponent00001", AppID: "wxapp0000000001", OpenID: "o-user-1"}
		for _, no := range []string{"rec_paid_1", "rec_closed_1"} {
			if _, err := s.CreateOrder(ctx, rs, OrderRequest{Description: "牛肉面", Amount: 1500, OutTradeNo: no}); err != nil {
				t.Fatal(err)
			}
		}
		var paid struct {
			TransactionID string `json:"transaction_id"`
		}
		if st := post(t, p.url+"/sandbox/api/pay/orders/rec_paid_1/pay", map[string]any{"sub_mchid": sub, "lose_notification": true}, &paid); st != 200 {
			t.Fatalf("pay: %d", st)
		}
		o, err := s.FindOrder(ctx, wxfleet.Scope{}, "wxcomponent00001", "", "rec_closed_1")
		must(err)
		if _, err := s.CloseOrder(ctx, o); err != nil {
			t.Fatal(err)
		}

		// Too young: not asked about.
		if res, err := s.Reconcile(ctx, 5*time.Minute); err != nil || res.Asked != 0 {
			t.Fatalf("young orders: %+v %v", res, err)
		}
		clk.add(6 * time.Minute)
		if res, err := s.Reconcile(ctx, 5*time.Minute); err != nil || res != (ReconcileResult{Asked: 1, Paid: 1}) {
			t.Fatalf("reconcile: %+v %v", res, err)
		}
		if res, err := s.Reconcile(ctx, 5*time.Minute); err != nil || res.Asked != 0 {
			t.Fatalf("reconcile again: %+v %v", res, err)
		}
		o, err = s.FindOrder(ctx, wxfleet.Scope{}, "wxcomponent00001", sub, "rec_paid_1")
		must(err)
		ns, err := st.PayNotifications(ctx, wxfleet.Scope{}, "wxcomponent00001", sub, "rec_paid_1")
		must(err)
		if o.State != wxfleet.OrderPaid || o.TransactionID != paid.TransactionID || len(ns) != 1 || ns[0].ID != "QUERY-"+paid.TransactionID {
			t.Fatalf("order %+v, notifications %+v", o, ns)
		}

		// Refunds: 1000 of 1500, then 600 refused by WeChat Pay and not kept.
		f, err := s.Refund(ctx, o, RefundRequest{Amount: 1000, Reason: "少一份"})
		must(err)
		if f.RefundID == "" || f.Status != wxfleet.RefundProcessing {
			t.Fatalf("refund %+v", f)
		}
		_, err = s.Refund(ctx, o, RefundRequest{Amount: 600})
		if wxfleet.ErrorCode(err) != wxfleet.EINVALID || !strings.Contains(err.Error(), "INVALID_REQUEST") {
			t.Fatalf("refunding more than is left: %v", err)
		}
		list, err := s.Refunds(ctx, o, true)
		must(err)
		if len(list) != 1 || list[0].Status != wxfleet.RefundSuccess || list[0].SucceededAt.IsZero() {
			t.Fatalf("refunds after a refresh %+v", list)
		}
		closed, err := s.FindOrder(ctx, wxfleet.Scope{}, "wxcomponent00001", "", "rec_closed_1")
		must(err)
		if _, err := s.Refund(ctx, closed, RefundRequest{Amount: 100}); wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
			t.Fatalf("refunding a closed order: %v", err)
		}
	})
}
