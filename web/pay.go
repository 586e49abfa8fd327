package web

import (
	"io"
	"net/http"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/pay"
)

// WeChat Pay (package pay, docs/wechat-pay.md): the operator's onboarding
// and binding API, the mini program's order call on the runtime API, and
// the notify_url WeChat Pay posts payment notifications to.

// payNotifyBodyCap bounds a notification: a few KiB of JSON.
const payNotifyBodyCap = 64 << 10

// payRoutes registers the pay routes when the server has a pay service.
func (s *Server) payRoutes(mux *http.ServeMux) {
	if s.Pay == nil {
		return
	}
	s.api(mux, "GET /api/v1/pay/merchant", OperatorRead(), s.payMerchant)
	// A merchant submits and reads its own tenant's applications (filed
	// under its tenant, whatever the body says); binding stays the staff's:
	// it decides where a mini program's money goes.
	s.api(mux, "POST /api/v1/pay/applyments", TenantWrite("pay.applyment.submit"), s.submitApplyment)
	s.api(mux, "GET /api/v1/pay/applyments/{id}", TenantRead(), s.getApplyment)
	s.api(mux, "POST /api/v1/pay/sub-merchants", StaffWrite("pay.sub_merchant.bind"), s.bindSubMerchant)
	// The orders and their refunds are tenant-scoped: every handler finds
	// the order through findPayOrder or lists through Pay.Orders, both
	// bounded by scopeOf(r), so a merchant meets only its tenant's orders.
	s.api(mux, "GET /api/v1/pay/orders", TenantRead(), s.listPayOrders)
	s.api(mux, "GET /api/v1/pay/orders/{out_trade_no}", TenantRead(), s.getPayOrder)
	s.api(mux, "POST /api/v1/pay/orders/{out_trade_no}/close", TenantWrite("pay.order.close"), s.closePayOrder)
	s.api(mux, "POST /api/v1/pay/orders/{out_trade_no}/refunds", TenantWrite("pay.refund.create"), s.createPayRefund)
	s.api(mux, "GET /api/v1/pay/orders/{out_trade_no}/refunds", TenantRead(), s.listPayRefunds)
	mux.Handle("POST /pay/notify", capBody(payNotifyBodyCap, http.HandlerFunc(s.payNotify)))
}

type applymentJSON struct {
	ID           int64                    `json:"id"`
	BusinessCode string                   `json:"business_code"`
	AppID        string                   `json:"appid,omitempty"`
	TenantID     *int64                   `json:"tenant_id,omitempty"`
	Shortname    string                   `json:"merchant_shortname"`
	ApplymentID  int64                    `json:"applyment_id,omitempty"`
	State        string                   `json:"state"`
	StateMsg     string                   `json:"state_msg,omitempty"`
	AuditDetail  []wxfleet.PayAuditDetail `json:"audit_detail"`
	SignURL      string                   `json:"sign_url,omitempty"`
	SubMchID     string                   `json:"sub_mchid,omitempty"`
	CreatedAt    time.Time                `json:"created_at"`
	UpdatedAt    time.Time                `json:"updated_at"`
}

// toApplymentJSON leaves the form out: it holds the sensitive fields.
func toApplymentJSON(a *wxfleet.PayApplyment) applymentJSON {
	d := a.AuditDetail
	if d == nil {
		d = []wxfleet.PayAuditDetail{}
	}
	return applymentJSON{ID: a.ID, BusinessCode: a.BusinessCode, AppID: a.AppID, TenantID: a.TenantID, Shortname: a.Shortname,
		ApplymentID: a.ApplymentID, State: a.State, StateMsg: a.StateMsg, AuditDetail: d, SignURL: a.SignURL,
		SubMchID: a.SubMchID, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// GET /api/v1/pay/merchant → the platform's provider merchant, without its keys.
func (s *Server) payMerchant(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	m, err := s.Store.PayMerchant(r.Context(), comp)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"sp_mchid": m.SpMchID, "sp_appid": m.SpAppID, "cert_serial": m.CertSerial,
		"public_key_id": m.PublicKeyID, "base_url": m.BaseURL, "notify_url": m.NotifyURL, "updated_at": m.UpdatedAt})
	return nil
}

// POST /api/v1/pay/applyments {"form":{WeChat Pay's form, sensitive fields in the clear},"appid"?,"tenant_id"?}
// → the application (201). A rejected application is submitted again with the same business_code.
// A merchant's is filed under its own tenant (another tenant_id is a 404).
func (s *Server) submitApplyment(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	var req struct {
		Form     map[string]any `json:"form"`
		AppID    string         `json:"appid"`
		TenantID *int64         `json:"tenant_id"`
		Platform string         `json:"platform"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Form == nil {
		return wxfleet.Errorf(wxfleet.EINVALID, "缺少 form（微信支付的进件表单）/ form (WeChat Pay's application form) is required")
	}
	a, err := s.Pay.SubmitApplyment(r.Context(), scopeOf(r), pay.ApplymentRequest{ComponentAppID: comp, AppID: req.AppID, TenantID: req.TenantID, Form: req.Form})
	if err != nil {
		return err
	}
	if a.TenantID != nil {
		auditTenant(r, *a.TenantID)
	}
	auditTarget(r, comp, req.AppID, a.BusinessCode)
	writeJSON(w, http.StatusCreated, toApplymentJSON(a))
	return nil
}

// GET /api/v1/pay/applyments/{id} → the application, its state read from
// WeChat Pay; another tenant's is a 404 to a merchant, WeChat Pay not asked.
func (s *Server) getApplyment(w http.ResponseWriter, r *http.Request) error {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	a, err := s.Pay.Applyment(r.Context(), scopeOf(r), comp, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toApplymentJSON(a))
	return nil
}

// POST /api/v1/pay/sub-merchants {"sub_mchid","appid","tenant_id"?} → the binding.
func (s *Server) bindSubMerchant(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	var req struct {
		SubMchID string `json:"sub_mchid"`
		AppID    string `json:"appid"`
		TenantID *int64 `json:"tenant_id"`
		Platform string `json:"platform"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	b := &wxfleet.PaySubMerchant{ComponentAppID: comp, AppID: req.AppID, SubMchID: req.SubMchID, TenantID: req.TenantID}
	if err := s.Pay.Bind(r.Context(), b); err != nil {
		return err
	}
	auditTarget(r, comp, b.AppID, b.SubMchID)
	writeJSON(w, http.StatusOK, map[string]any{"appid": b.AppID, "sub_mchid": b.SubMchID, "tenant_id": b.TenantID, "created_at": b.CreatedAt})
	return nil
}

type payOrderJSON struct {
	OutTradeNo    string     `json:"out_trade_no"`
	AppID         string     `json:"appid"`
	SubMchID      string     `json:"sub_mchid"`
	OpenID        string     `json:"openid"`
	Description   string     `json:"description"`
	Amount        int64      `json:"amount"`
	State         string     `json:"state"`
	PrepayID      string     `json:"prepay_id,omitempty"`
	TransactionID string     `json:"transaction_id,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	PaidAt        *time.Time `json:"paid_at,omitempty"`
}

// GET /api/v1/pay/orders?appid=&limit= → {"items":[...]} newest first.
func (s *Server) listPayOrders(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	n, err := limit(r, 50, 500)
	if err != nil {
		return err
	}
	list, err := s.Pay.Orders(r.Context(), scopeOf(r), comp, r.URL.Query().Get("appid"), n)
	if err != nil {
		return err
	}
	items := make([]payOrderJSON, 0, len(list))
	for _, o := range list {
		items = append(items, toPayOrderJSON(o))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func toPayOrderJSON(o *wxfleet.PayOrder) payOrderJSON {
	j := payOrderJSON{OutTradeNo: o.OutTradeNo, AppID: o.AppID, SubMchID: o.SubMchID, OpenID: o.OpenID, Description: o.Description,
		Amount: o.Amount, State: o.State, PrepayID: o.PrepayID, TransactionID: o.TransactionID, CreatedAt: o.CreatedAt}
	if !o.PaidAt.IsZero() {
		j.PaidAt = &o.PaidAt
	}
	return j
}

// findPayOrder is the order of the path inside the caller's scope
// (?sub_mchid= when several sub-merchants used the number).
func (s *Server) findPayOrder(r *http.Request) (*wxfleet.PayOrder, error) {
	comp, err := s.platform(r)
	if err != nil {
		return nil, err
	}
	return s.Pay.FindOrder(r.Context(), scopeOf(r), comp, r.URL.Query().Get("sub_mchid"), r.PathValue("out_trade_no"))
}

// GET /api/v1/pay/orders/{out_trade_no}?sub_mchid=&refresh=true → the order
// as stored; refresh=true asks WeChat Pay first (an unpaid order whose
// notification was lost ends up paid) and adds its trade_state.
func (s *Server) getPayOrder(w http.ResponseWriter, r *http.Request) error {
	o, err := s.findPayOrder(r)
	if err != nil {
		return err
	}
	refresh := false
	switch v := r.URL.Query().Get("refresh"); v {
	case "", "false":
	case "true":
		refresh = true
	default:
		return wxfleet.Errorf(wxfleet.EINVALID, "refresh 须为 true 或 false / refresh must be true or false")
	}
	if !refresh {
		writeJSON(w, http.StatusOK, toPayOrderJSON(o))
		return nil
	}
	o, tx, err := s.Pay.RefreshOrder(r.Context(), o)
	if err != nil {
		return err
	}
	type refreshed struct {
		payOrderJSON
		TradeState     string `json:"wechatpay_trade_state"`
		TradeStateDesc string `json:"wechatpay_trade_state_desc,omitempty"`
	}
	j := refreshed{payOrderJSON: toPayOrderJSON(o)}
	if tx.TradeState != nil {
		j.TradeState = *tx.TradeState
	}
	if tx.TradeStateDesc != nil {
		j.TradeStateDesc = *tx.TradeStateDesc
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// POST /api/v1/pay/orders/{out_trade_no}/close?sub_mchid= → the order, closed
// at WeChat Pay; 409 when it is paid.
func (s *Server) closePayOrder(w http.ResponseWriter, r *http.Request) error {
	o, err := s.findPayOrder(r)
	if err != nil {
		return err
	}
	o, err = s.Pay.CloseOrder(r.Context(), o)
	if err != nil {
		return err
	}
	auditTarget(r, o.ComponentAppID, o.AppID, o.OutTradeNo)
	writeJSON(w, http.StatusOK, toPayOrderJSON(o))
	return nil
}

type payRefundJSON struct {
	OutRefundNo string     `json:"out_refund_no"`
	OutTradeNo  string     `json:"out_trade_no"`
	SubMchID    string     `json:"sub_mchid"`
	AppID       string     `json:"appid"`
	Amount      int64      `json:"amount"`
	Reason      string     `json:"reason,omitempty"`
	RefundID    string     `json:"refund_id,omitempty"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	SucceededAt *time.Time `json:"succeeded_at,omitempty"`
}

func toPayRefundJSON(f *wxfleet.PayRefund) payRefundJSON {
	j := payRefundJSON{OutRefundNo: f.OutRefundNo, OutTradeNo: f.OutTradeNo, SubMchID: f.SubMchID, AppID: f.AppID, Amount: f.Amount,
		Reason: f.Reason, RefundID: f.RefundID, Status: f.Status, CreatedAt: f.CreatedAt}
	if j.Status == wxfleet.RefundUnplaced {
		j.Status = "UNPLACED"
	}
	if !f.SucceededAt.IsZero() {
		j.SucceededAt = &f.SucceededAt
	}
	return j
}

// POST /api/v1/pay/orders/{out_trade_no}/refunds?sub_mchid= {"amount","reason"?,"out_refund_no"?}
// → the refund (201), as WeChat Pay accepted it (PROCESSING, later SUCCESS).
func (s *Server) createPayRefund(w http.ResponseWriter, r *http.Request) error {
	o, err := s.findPayOrder(r)
	if err != nil {
		return err
	}
	var req struct {
		Amount      int64  `json:"amount"`
		Reason      string `json:"reason"`
		OutRefundNo string `json:"out_refund_no"`
		Platform    string `json:"platform"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	f, err := s.Pay.Refund(r.Context(), o, pay.RefundRequest{Amount: req.Amount, Reason: req.Reason, OutRefundNo: req.OutRefundNo})
	if err != nil {
		return err
	}
	auditTarget(r, o.ComponentAppID, o.AppID, f.OutRefundNo)
	writeJSON(w, http.StatusCreated, toPayRefundJSON(f))
	return nil
}

// GET /api/v1/pay/orders/{out_trade_no}/refunds?sub_mchid=&refresh=true → {"items":[...]}
// oldest first; refresh=true asks WeChat Pay about those not yet final.
func (s *Server) listPayRefunds(w http.ResponseWriter, r *http.Request) error {
	o, err := s.findPayOrder(r)
	if err != nil {
		return err
	}
	refresh := false
	switch r.URL.Query().Get("refresh") {
	case "", "false":
	case "true":
		refresh = true
	default:
		return wxfleet.Errorf(wxfleet.EINVALID, "refresh 须为 true 或 false / refresh must be true or false")
	}
	list, err := s.Pay.Refunds(r.Context(), o, refresh)
	if err != nil {
		return err
	}
	items := make([]payRefundJSON, 0, len(list))
	for _, f := range list {
		items = append(items, toPayRefundJSON(f))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// POST /runtime/v1/pay/orders {"description","amount","out_trade_no"?} with the
// session token → the parameters of wx.requestPayment and the out_trade_no.
func (s *Server) runtimePayOrder(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.runtimeSession(w, r)
	if err != nil {
		return err
	}
	// The runtime's gate (an expired subscription → 402) refuses orders as it refuses config reads.
	if g := s.Runtime.Gate; g != nil {
		if err := g(r.Context(), rs.ComponentAppID, rs.AppID); err != nil {
			return err
		}
	}
	var req struct {
		Description string `json:"description"`
		Amount      int64  `json:"amount"`
		OutTradeNo  string `json:"out_trade_no"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	rp, err := s.Pay.CreateOrder(r.Context(), rs, pay.OrderRequest{Description: req.Description, Amount: req.Amount, OutTradeNo: req.OutTradeNo})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rp)
	return nil
}

// POST /pay/notify: WeChat Pay's payment notification. Verified, decrypted
// and stored before the 204; a replay is acknowledged without being stored
// again; a bad signature is 401 and stores nothing.
func (s *Server) payNotify(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.apiError(w, r, bodyErr(err))
		return
	}
	if _, err := s.Pay.HandleNotification(r.Context(), r.Header, body); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
