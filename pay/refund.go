package pay

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/webhook"
)

// Refunds (docs/wechat-pay.md "Refunds") through wechatpay-go's
// refunddomestic service, sub_mchid set as partner mode requires.

// RefundRequest is what the operator asks to give back.
type RefundRequest struct {
	Amount      int64 // fen
	Reason      string
	OutRefundNo string // "" → one is made
}

// Refund gives back req.Amount of the paid order o. The refund is stored
// before WeChat Pay sees it; asking again with the same out_refund_no and
// amount asks WeChat Pay again (it refunds once). WeChat Pay decides what is
// left to refund: more than that is its INVALID_REQUEST; refundError words
// its other refusals.
func (s *Service) Refund(ctx context.Context, o *wxfleet.PayOrder, req RefundRequest) (*wxfleet.PayRefund, error) {
	switch {
	case req.Amount <= 0 || req.Amount > o.Amount:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "amount 须为正的分数，且不超过订单金额 %d / amount must be a positive number of fen, at most the order's %d", o.Amount, o.Amount)
	case utf8.RuneCountInString(req.Reason) > 80:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "reason 最多 80 个字符 / reason is at most 80 characters")
	case o.State != wxfleet.OrderPaid:
		return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "订单 %s 未支付，不能退款 / order %s is not paid: it cannot be refunded", o.OutTradeNo, o.OutTradeNo)
	}
	if req.OutRefundNo == "" {
		req.OutRefundNo = newOutTradeNo()
	} else if !outRefundNoPattern.MatchString(req.OutRefundNo) {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "out_refund_no 须为 1 到 64 位数字、字母或 _-|*@ / out_refund_no must be 1 to 64 digits, letters or _-|*@")
	}
	mc, err := s.client(ctx, o.ComponentAppID)
	if err != nil {
		return nil, err
	}
	f := &wxfleet.PayRefund{ComponentAppID: o.ComponentAppID, SubMchID: o.SubMchID, OutRefundNo: req.OutRefundNo, OutTradeNo: o.OutTradeNo,
		AppID: o.AppID, Amount: req.Amount, Reason: req.Reason, Status: wxfleet.RefundUnplaced, CreatedAt: s.now()}
	if err := s.Store.CreatePayRefund(ctx, f); err != nil {
		return nil, err
	}
	cr := refunddomestic.CreateRequest{
		SubMchid: core.String(o.SubMchID), OutTradeNo: core.String(o.OutTradeNo), OutRefundNo: core.String(req.OutRefundNo),
		NotifyUrl: core.String(mc.m.NotifyURL),
		Amount:    &refunddomestic.AmountReq{Refund: core.Int64(req.Amount), Total: core.Int64(o.Amount), Currency: core.String("CNY")},
	}
	if req.Reason != "" {
		cr.Reason = core.String(req.Reason)
	}
	svc := refunddomestic.RefundsApiService{Client: mc.client}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, _, err := svc.Create(cctx, cr)
	if err != nil {
		var ae *core.APIError
		if errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 {
			if derr := s.Store.DropUnplacedPayRefund(ctx, f.ComponentAppID, f.SubMchID, f.OutRefundNo); derr != nil {
				s.logger().Warn("pay: dropping a refused refund", "out_refund_no", f.OutRefundNo, "err", derr)
			}
		}
		return nil, refundError(err)
	}
	if err := s.recordRefund(ctx, f, resp); err != nil {
		return nil, err
	}
	s.logger().Info("pay: refund", "component_appid", f.ComponentAppID, "out_trade_no", f.OutTradeNo, "out_refund_no", f.OutRefundNo,
		"amount", f.Amount, "status", str((*string)(resp.Status)))
	return s.Store.PayRefund(ctx, f.ComponentAppID, f.SubMchID, f.OutRefundNo)
}

// refundError names what WeChat Pay's refusal of a refund means for the
// operator, for the codes of its refund error table (docs/wechat-pay.md
// "Refunds"); any other answer is apiError's. Each of these refusals means
// the refund was not taken: asking again later is safe.
func refundError(err error) error {
	var ae *core.APIError
	if !errors.As(err, &ae) {
		return apiError("退款", "the refund", err)
	}
	code, zh, en := "", "", ""
	switch ae.Code {
	case "NOT_ENOUGH":
		code, zh, en = wxfleet.ECONFLICT, "子商户的可用余额不足以退这笔款，充值后再试",
			"the sub-merchant's available balance is too low for this refund: top it up, then try again"
	case "USER_ACCOUNT_ABNORMAL":
		code, zh, en = wxfleet.ECONFLICT, "付款用户的微信账户异常（如已注销），无法原路退回，请另行退给用户",
			"the payer's WeChat account is abnormal (closed, for one): the money cannot go back that way; refund the user another way"
	case "FREQUENCY_LIMITED":
		code, zh, en = wxfleet.ETOOMANY, "退款请求过于频繁，微信支付未受理，请稍后再试",
			"too many refund requests: WeChat Pay did not take this one; try again later"
	case "RESOURCE_NOT_EXISTS":
		code, zh, en = wxfleet.ENOTFOUND, "微信支付没有这笔已支付的订单",
			"WeChat Pay has no paid order of that number"
	case "NO_AUTH":
		code, zh, en = wxfleet.EFORBIDDEN, "服务商没有这笔订单的退款权限",
			"the provider may not refund this order"
	default:
		return apiError("退款", "the refund", err)
	}
	return wxfleet.WrapError(code, fmt.Sprintf("%s（微信支付 %s：%s）/ %s (WeChat Pay %s: %s)", zh, ae.Code, ae.Message, en, ae.Code, ae.Message), err)
}

// recordRefund stores WeChat Pay's answer about f.
func (s *Service) recordRefund(ctx context.Context, f *wxfleet.PayRefund, r *refunddomestic.Refund) error {
	if str(r.OutRefundNo) != f.OutRefundNo || str(r.RefundId) == "" {
		return wxfleet.Errorf(wxfleet.EUNAVAILABLE, "微信支付的退款应答不是该退款 / WeChat Pay answered about another refund")
	}
	var succeeded time.Time
	if r.SuccessTime != nil {
		succeeded = *r.SuccessTime
	}
	status := ""
	if r.Status != nil {
		status = string(*r.Status)
	}
	return s.Store.SetPayRefundState(ctx, f.ComponentAppID, f.SubMchID, f.OutRefundNo, str(r.RefundId), status, succeeded)
}

// Refunds lists the refunds of o; refresh asks WeChat Pay about each one
// not yet final (QueryByOutRefundNo) and records the answers first.
func (s *Service) Refunds(ctx context.Context, o *wxfleet.PayOrder, refresh bool) ([]*wxfleet.PayRefund, error) {
	list, err := s.Store.PayRefunds(ctx, o.ComponentAppID, o.SubMchID, o.OutTradeNo)
	if err != nil || !refresh {
		return list, err
	}
	var mc *merchantClient
	for _, f := range list {
		if f.Status == wxfleet.RefundSuccess || f.Status == wxfleet.RefundClosed {
			continue
		}
		if mc == nil {
			if mc, err = s.client(ctx, o.ComponentAppID); err != nil {
				return nil, err
			}
		}
		svc := refunddomestic.RefundsApiService{Client: mc.client}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		r, _, err := svc.QueryByOutRefundNo(cctx, refunddomestic.QueryByOutRefundNoRequest{
			OutRefundNo: core.String(f.OutRefundNo), SubMchid: core.String(f.SubMchID)})
		cancel()
		var ae *core.APIError
		if errors.As(err, &ae) && ae.StatusCode == 404 && f.Status == wxfleet.RefundUnplaced {
			continue // WeChat Pay never took it
		}
		if err != nil {
			return nil, apiError("查询退款", "the refund query", err)
		}
		if err := s.recordRefund(ctx, f, r); err != nil {
			return nil, err
		}
	}
	return s.Store.PayRefunds(ctx, o.ComponentAppID, o.SubMchID, o.OutTradeNo)
}

// refundNotice is the resource of a refund notification (REFUND.SUCCESS,
// REFUND.ABNORMAL, REFUND.CLOSED), docs/wechat-pay.md.
type refundNotice struct {
	SpMchID       string `json:"sp_mchid"`
	SubMchID      string `json:"sub_mchid"`
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	RefundID      string `json:"refund_id"`
	OutRefundNo   string `json:"out_refund_no"`
	RefundStatus  string `json:"refund_status"`
	SuccessTime   string `json:"success_time"`
	Amount        struct {
		Refund int64 `json:"refund"`
	} `json:"amount"`
}

// refundNotification stores a decrypted refund notification once, with the
// refund's status.
func (s *Service) refundNotification(ctx context.Context, m *wxfleet.PayMerchant, id, eventType string, plain []byte) (*Notified, error) {
	var rn refundNotice
	if err := json.Unmarshal(plain, &rn); err != nil {
		return nil, wxfleet.WrapError(wxfleet.EINVALID, "退款通知的内容无法解析 / the refund notification's resource does not parse", err)
	}
	if rn.SpMchID != m.SpMchID || rn.SubMchID == "" || rn.OutRefundNo == "" || rn.RefundID == "" {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "退款通知不属于本服务商 / the refund notification is not for this provider")
	}
	var succeeded time.Time
	if rn.RefundStatus == wxfleet.RefundSuccess {
		succeeded = s.now()
		if t, err := time.Parse(time.RFC3339, rn.SuccessTime); err == nil {
			succeeded = t
		}
	}
	// transaction_id holds the refund_id: one stored event per refund.
	n := &wxfleet.PayNotification{ID: id, ComponentAppID: m.ComponentAppID, EventType: eventType, TransactionID: rn.RefundID,
		OutTradeNo: rn.OutTradeNo, SubMchID: rn.SubMchID, TradeState: rn.RefundStatus, Resource: json.RawMessage(plain), ReceivedAt: s.now()}
	var then store.Then
	if s.Events != nil {
		appID := ""
		if f, err := s.Store.PayRefund(ctx, m.ComponentAppID, rn.SubMchID, rn.OutRefundNo); err == nil {
			appID = f.AppID
		}
		ev := webhook.Event{ID: webhook.EventID(webhook.PayRefund, n.ComponentAppID, n.SubMchID, n.TransactionID, eventType),
			Type: webhook.PayRefund, ComponentAppID: n.ComponentAppID, AppID: appID, Data: map[string]any{
				"out_trade_no": rn.OutTradeNo, "out_refund_no": rn.OutRefundNo, "refund_id": rn.RefundID, "sub_mchid": rn.SubMchID,
				"status": rn.RefundStatus, "amount": rn.Amount.Refund}}
		then = func(ctx context.Context, tx *sql.Tx) error { return s.Events.Emit(ctx, tx, ev) }
	}
	inserted, err := s.Store.RecordRefundNotification(ctx, n, rn.OutRefundNo, succeeded, then)
	if err != nil {
		return nil, err
	}
	s.logger().Info("pay: refund notification", "component_appid", n.ComponentAppID, "id", n.ID, "event_type", n.EventType,
		"out_refund_no", rn.OutRefundNo, "refund_status", rn.RefundStatus, "new", inserted)
	return &Notified{Notification: n, New: inserted}, nil
}
