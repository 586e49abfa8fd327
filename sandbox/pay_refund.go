package sandbox

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"
	"unicode/utf8"
)

// Refunds of partner orders (服务商退款) and the refund notification,
// docs/wechat-pay.md "Refunds". The sandbox settles a refund at once: the
// answer to the request says PROCESSING, the refund is SUCCESS from then on
// and REFUND.SUCCESS goes to its notify_url (retried as payment
// notifications are).

// outRefundNoPattern: up to 64 of digits, letters, _-|*@ (wechatpay-go's
// refunddomestic model).
var outRefundNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*@]{1,64}$`)

// payRefund is a refund WeChat Pay took.
type payRefund struct {
	RefundID      string    `json:"refund_id"`
	OutRefundNo   string    `json:"out_refund_no"`
	SubMchID      string    `json:"sub_mchid"`
	OutTradeNo    string    `json:"out_trade_no"`
	TransactionID string    `json:"transaction_id"`
	Reason        string    `json:"reason,omitempty"`
	NotifyURL     string    `json:"notify_url,omitempty"`
	Refund        int64     `json:"refund"`
	Total         int64     `json:"total"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	CreatedAt     time.Time `json:"created_at"` // sandbox clock
	SuccessTime   time.Time `json:"success_time,omitzero"`
}

func refundKey(subMchID, outRefundNo string) string { return subMchID + " " + outRefundNo }

// view is the refund as the create and query APIs answer it; status is
// what the caller is told.
func (f *payRefund) view(status string) map[string]any {
	v := map[string]any{
		"refund_id": f.RefundID, "out_refund_no": f.OutRefundNo, "transaction_id": f.TransactionID, "out_trade_no": f.OutTradeNo,
		"channel": "ORIGINAL", "user_received_account": "支付用户零钱", "create_time": f.CreatedAt.In(chinaTime).Format(time.RFC3339),
		"status": status, "funds_account": "UNSETTLED",
		"amount": map[string]any{"total": f.Total, "refund": f.Refund, "payer_total": f.Total, "payer_refund": f.Refund,
			"settlement_total": f.Total, "settlement_refund": f.Refund, "discount_refund": 0, "currency": f.Currency, "from": []any{}},
		"promotion_detail": []any{},
	}
	if status == "SUCCESS" {
		v["success_time"] = f.SuccessTime.In(chinaTime).Format(time.RFC3339)
	}
	return v
}

// POST /v3/refund/domestic/refunds
func (s *Sandbox) payCreateRefund(r *http.Request, p *payState, body []byte) (any, error) {
	var req struct {
		SubMchID      string  `json:"sub_mchid"`
		TransactionID string  `json:"transaction_id"`
		OutTradeNo    string  `json:"out_trade_no"`
		OutRefundNo   *string `json:"out_refund_no"`
		Reason        string  `json:"reason"`
		NotifyURL     string  `json:"notify_url"`
		Amount        *struct {
			Refund   *int64  `json:"refund"`
			Total    *int64  `json:"total"`
			Currency *string `json:"currency"`
		} `json:"amount"`
	}
	if err := decodePay(body, &req); err != nil {
		return nil, err
	}
	switch {
	case req.SubMchID == "":
		return nil, payErr(400, "PARAM_ERROR", "服务商模式下 sub_mchid 必填（sub_mchid is required in partner mode）")
	case req.OutRefundNo == nil || *req.OutRefundNo == "":
		return nil, payErr(400, "PARAM_ERROR", "输入源“/body/out_refund_no”映射到字段“商户退款单号”必填性规则校验失败，此字段为必填项")
	case !outRefundNoPattern.MatchString(*req.OutRefundNo):
		return nil, payErr(400, "PARAM_ERROR", "out_refund_no must be 1 to 64 digits, letters or _-|*@")
	case req.TransactionID == "" && req.OutTradeNo == "":
		return nil, payErr(400, "PARAM_ERROR", "transaction_id 与 out_trade_no 须二选一（one of transaction_id and out_trade_no is required）")
	case req.Amount == nil || req.Amount.Refund == nil || req.Amount.Total == nil || req.Amount.Currency == nil:
		return nil, payErr(400, "PARAM_ERROR", "amount.refund, amount.total and amount.currency are required")
	case *req.Amount.Currency != "CNY":
		return nil, payErr(400, "PARAM_ERROR", "amount.currency must be CNY")
	case *req.Amount.Refund <= 0:
		return nil, payErr(400, "PARAM_ERROR", "amount.refund must be a positive number of fen")
	case utf8.RuneCountInString(req.Reason) > 80:
		return nil, payErr(400, "PARAM_ERROR", "reason is longer than 80 characters")
	}
	if req.NotifyURL != "" {
		if u, err := url.Parse(req.NotifyURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
			return nil, payErr(400, "PARAM_ERROR", "notify_url must be an absolute URL without a query string")
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.SubMerchants[req.SubMchID]
	if m == nil {
		return nil, payErr(400, "MCH_NOT_EXISTS", "特约商户号不存在（sub_mchid %s does not exist）", req.SubMchID)
	}
	var o *payOrder
	if req.OutTradeNo != "" {
		o = p.Orders[orderKey(req.SubMchID, req.OutTradeNo)]
	} else {
		for _, x := range p.Orders {
			if x.SubMchID == req.SubMchID && x.TransactionID == req.TransactionID {
				o = x
			}
		}
	}
	if o == nil || (req.TransactionID != "" && o.TransactionID != req.TransactionID) {
		return nil, payErr(404, "RESOURCE_NOT_EXISTS", "订单不存在（no such order）")
	}
	if old := p.Refunds[refundKey(req.SubMchID, *req.OutRefundNo)]; old != nil {
		// The same out_refund_no refunds once: asked again, the same refund.
		if old.OutTradeNo != o.OutTradeNo || old.Refund != *req.Amount.Refund {
			return nil, payErr(400, "INVALID_REQUEST", "商户退款单号 %s 已用于其他退款（out_refund_no was used with other parameters）", *req.OutRefundNo)
		}
		return old.view(old.Status), nil
	}
	if o.State != "SUCCESS" {
		// WeChat Pay's refund error table gives an unpaid order the same
		// 404 as a missing one (docs/wechat-pay.md "Refunds").
		return nil, payErr(404, "RESOURCE_NOT_EXISTS", "订单不存在或未支付，不能退款（the order is %s: an unpaid order cannot be refunded）", o.State)
	}
	if *req.Amount.Total != o.Total {
		return nil, payErr(400, "INVALID_REQUEST", "订单金额 amount.total 与原订单不一致（amount.total is not the order's total %d）", o.Total)
	}
	if *req.Amount.Refund > o.Total-o.Refunded {
		return nil, payErr(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额（the refund exceeds what is left to refund: %d）", o.Total-o.Refunded)
	}
	if e := refundRefusals[m.RefundRefusal]; e != nil {
		c := *e
		return nil, &c
	}
	f := &payRefund{
		RefundID:    fmt.Sprintf("50300%s%012d", s.now().In(chinaTime).Format("20060102"), p.nextIDLocked()),
		OutRefundNo: *req.OutRefundNo, SubMchID: req.SubMchID, OutTradeNo: o.OutTradeNo, TransactionID: o.TransactionID,
		Reason: req.Reason, NotifyURL: req.NotifyURL, Refund: *req.Amount.Refund, Total: o.Total, Currency: "CNY",
		Status: "SUCCESS", CreatedAt: s.now(), SuccessTime: s.now(),
	}
	o.Refunded += f.Refund
	if p.Refunds == nil {
		p.Refunds = map[string]*payRefund{}
	}
	p.Refunds[refundKey(f.SubMchID, f.OutRefundNo)] = f
	if f.NotifyURL != "" {
		if _, err := s.sealNotificationLocked(p, f.NotifyURL, "REFUND.SUCCESS", "退款成功", "refund", f.notice(p), f.OutTradeNo, f.SubMchID); err != nil {
			return nil, err
		}
	}
	if err := s.savePayLocked(p); err != nil {
		return nil, err
	}
	s.wakePay()
	return f.view("PROCESSING"), nil
}

// notice is the refund notification's resource.
func (f *payRefund) notice(p *payState) map[string]any {
	return map[string]any{
		"sp_mchid": p.Merchant.SpMchID, "sub_mchid": f.SubMchID, "transaction_id": f.TransactionID, "out_trade_no": f.OutTradeNo,
		"refund_id": f.RefundID, "out_refund_no": f.OutRefundNo, "refund_status": f.Status,
		"success_time": f.SuccessTime.In(chinaTime).Format(time.RFC3339), "user_received_account": "支付用户零钱",
		"amount": map[string]any{"total": f.Total, "refund": f.Refund, "payer_total": f.Total, "payer_refund": f.Refund},
	}
}

// GET /v3/refund/domestic/refunds/{out_refund_no}?sub_mchid=
func (s *Sandbox) payQueryRefund(r *http.Request, p *payState, _ []byte) (any, error) {
	sub := r.URL.Query().Get("sub_mchid")
	if sub == "" {
		return nil, payErr(400, "PARAM_ERROR", "服务商模式下 sub_mchid 必填（sub_mchid is required in the query）")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.Refunds[refundKey(sub, r.PathValue("no"))]
	if f == nil {
		return nil, payErr(404, "RESOURCE_NOT_EXISTS", "退款单不存在（no such refund）")
	}
	return f.view(f.Status), nil
}
