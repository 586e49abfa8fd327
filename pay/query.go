package pay

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/jsapi"

	"github.com/wxfleet/wxfleet"
)

// Order query and close (docs/wechat-pay.md, "Query and close"), and the
// fallback for a notification that never arrives: unpaid orders are asked
// about after a while, and what WeChat Pay answers is recorded as a
// notification would have been.

// Defaults of the reconciliation.
const (
	// DefaultReconcileAfter is how long after its creation an unpaid order
	// is asked about: a notification normally comes within seconds.
	DefaultReconcileAfter = 5 * time.Minute
	// DefaultReconcileInterval is how often the reconciliation runs.
	DefaultReconcileInterval = time.Minute
	// reconcileWindow is how far back it looks: a prepay_id lives two
	// hours, so an order older than a day will not be paid any more.
	reconcileWindow = 24 * time.Hour
	// reconcileBatch bounds one run.
	reconcileBatch = 200
)

// queryEventID names the record of a transaction learnt by querying. The
// store keeps one record per (event type, transaction id), so a real
// notification arriving later, or a query after one, stores nothing more.
func queryEventID(transactionID string) string { return "QUERY-" + transactionID }

// FindOrder returns the platform's order out_trade_no inside sc; subMchID
// "" finds it by out_trade_no alone, ECONFLICT when several sub-merchants
// used that number.
func (s *Service) FindOrder(ctx context.Context, sc wxfleet.Scope, componentAppID, subMchID, outTradeNo string) (*wxfleet.PayOrder, error) {
	if subMchID != "" {
		return s.Store.PayOrder(ctx, sc, componentAppID, subMchID, outTradeNo)
	}
	list, err := s.Store.PayOrdersByNo(ctx, sc, componentAppID, outTradeNo)
	if err != nil {
		return nil, err
	}
	switch len(list) {
	case 0:
		return nil, wxfleet.Errorf(wxfleet.ENOTFOUND, "订单 %s 不存在 / no order %s", outTradeNo, outTradeNo)
	case 1:
		return list[0], nil
	}
	return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "多个特约商户使用了订单号 %s，请给出 sub_mchid / several sub-merchants used out_trade_no %s: give sub_mchid", outTradeNo, outTradeNo)
}

// RefreshOrder asks WeChat Pay about o (QueryOrderByOutTradeNo) and records
// what it answers: a paid transaction through the same path as a verified
// notification (stored once, the order marked paid), a closed one as
// closed. It returns the order as stored afterwards and the transaction.
func (s *Service) RefreshOrder(ctx context.Context, o *wxfleet.PayOrder) (*wxfleet.PayOrder, *partnerpayments.Transaction, error) {
	mc, err := s.client(ctx, o.ComponentAppID)
	if err != nil {
		return nil, nil, err
	}
	svc := jsapi.JsapiApiService{Client: mc.client}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	tx, _, err := svc.QueryOrderByOutTradeNo(cctx, jsapi.QueryOrderByOutTradeNoRequest{
		OutTradeNo: core.String(o.OutTradeNo), SpMchid: core.String(mc.m.SpMchID), SubMchid: core.String(o.SubMchID)})
	if err != nil {
		return nil, nil, apiError("查单", "the order query", err)
	}
	if str(tx.OutTradeNo) != o.OutTradeNo || str(tx.SubMchid) != o.SubMchID {
		return nil, nil, wxfleet.Errorf(wxfleet.EUNAVAILABLE, "微信支付的查单结果不是该订单 / WeChat Pay answered the query with another order")
	}
	if err := s.recordTransaction(ctx, o, tx); err != nil {
		return nil, nil, err
	}
	after, err := s.Store.PayOrder(ctx, wxfleet.Scope{}, o.ComponentAppID, o.SubMchID, o.OutTradeNo)
	return after, tx, err
}

// recordTransaction stores what a query said of o.
func (s *Service) recordTransaction(ctx context.Context, o *wxfleet.PayOrder, tx *partnerpayments.Transaction) error {
	switch str(tx.TradeState) {
	case wxfleet.OrderPaid, "REFUND": // REFUND (转入退款): paid, then refunded
		if str(tx.TransactionId) == "" {
			return wxfleet.Errorf(wxfleet.EUNAVAILABLE, "微信支付的查单结果缺少 transaction_id / WeChat Pay's query answer has no transaction_id")
		}
		plain, _ := json.Marshal(tx)
		n := &wxfleet.PayNotification{ID: queryEventID(str(tx.TransactionId)), ComponentAppID: o.ComponentAppID,
			EventType: "TRANSACTION.SUCCESS", TransactionID: str(tx.TransactionId), OutTradeNo: o.OutTradeNo, SubMchID: o.SubMchID,
			TradeState: wxfleet.OrderPaid, Resource: plain, ReceivedAt: s.now()}
		inserted, err := s.Store.RecordPayNotification(ctx, n, s.now(), s.paidEvent(n, o.AppID, o.Amount, "query"))
		if err != nil {
			return err
		}
		s.logger().Info("pay: order queried", "component_appid", o.ComponentAppID, "out_trade_no", o.OutTradeNo,
			"trade_state", wxfleet.OrderPaid, "new", inserted)
	case wxfleet.OrderClosed:
		if _, err := s.Store.ClosePayOrder(ctx, o.ComponentAppID, o.SubMchID, o.OutTradeNo, s.closedEvent(o, "query")); err != nil {
			return err
		}
	}
	return nil
}

// CloseOrder closes an unpaid order at WeChat Pay (CloseOrder) and marks it
// closed. A paid order is ECONFLICT (WeChat Pay's ORDERPAID): its payment,
// if not yet recorded, is recorded from a query.
func (s *Service) CloseOrder(ctx context.Context, o *wxfleet.PayOrder) (*wxfleet.PayOrder, error) {
	return s.closeOrder(ctx, o, "close")
}

// closeOrder is CloseOrder, the pay.closed event naming source.
func (s *Service) closeOrder(ctx context.Context, o *wxfleet.PayOrder, source string) (*wxfleet.PayOrder, error) {
	switch o.State {
	case wxfleet.OrderPaid:
		return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "订单 %s 已支付，不能关闭 / order %s is paid: it cannot be closed", o.OutTradeNo, o.OutTradeNo)
	case wxfleet.OrderClosed:
		return o, nil
	}
	mc, err := s.client(ctx, o.ComponentAppID)
	if err != nil {
		return nil, err
	}
	svc := jsapi.JsapiApiService{Client: mc.client}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err = svc.CloseOrder(cctx, jsapi.CloseOrderRequest{
		OutTradeNo: core.String(o.OutTradeNo), SpMchid: core.String(mc.m.SpMchID), SubMchid: core.String(o.SubMchID)})
	var ae *core.APIError
	if errors.As(err, &ae) && ae.Code == "ORDERPAID" {
		if _, _, rerr := s.RefreshOrder(ctx, o); rerr != nil {
			s.logger().Warn("pay: recording a paid order found by close", "out_trade_no", o.OutTradeNo, "err", rerr)
		}
		return nil, wxfleet.WrapError(wxfleet.ECONFLICT, "订单 "+o.OutTradeNo+" 已支付，不能关闭（微信支付 ORDERPAID）/ order "+o.OutTradeNo+" is paid (WeChat Pay's ORDERPAID): it cannot be closed", err)
	}
	if err != nil {
		return nil, apiError("关单", "closing the order", err)
	}
	if _, err := s.Store.ClosePayOrder(ctx, o.ComponentAppID, o.SubMchID, o.OutTradeNo, s.closedEvent(o, source)); err != nil {
		return nil, err
	}
	s.logger().Info("pay: order closed", "component_appid", o.ComponentAppID, "out_trade_no", o.OutTradeNo)
	return s.Store.PayOrder(ctx, wxfleet.Scope{}, o.ComponentAppID, o.SubMchID, o.OutTradeNo)
}

// ReconcileResult counts what one reconciliation did.
type ReconcileResult struct {
	Asked, Paid, Closed, Failed int
}

// Reconcile asks WeChat Pay about every order still unpaid after (since its
// creation; 0 → DefaultReconcileAfter) and younger than a day, and records
// the answers as RefreshOrder does. An order whose notification was lost
// ends up paid; one already recorded is not recorded again.
func (s *Service) Reconcile(ctx context.Context, after time.Duration) (ReconcileResult, error) {
	if after <= 0 {
		after = DefaultReconcileAfter
	}
	return s.eachUnpaid(ctx, reconcileWindow, after, false, "pay: reconciling an order", func(ctx context.Context, o *wxfleet.PayOrder) (string, error) {
		got, _, err := s.RefreshOrder(ctx, o)
		if err != nil {
			return "", err
		}
		return got.State, nil
	})
}

// eachUnpaid runs one on every order still unpaid after since its creation
// and younger than window, at most reconcileBatch of them, and counts the
// states they end in. One order WeChat Pay cannot answer for now does not
// stop the others (it is logged as what, and asked again next time).
// unplaced takes the orders without a prepay_id too.
func (s *Service) eachUnpaid(ctx context.Context, window, after time.Duration, unplaced bool, what string,
	one func(context.Context, *wxfleet.PayOrder) (string, error)) (ReconcileResult, error) {
	var res ReconcileResult
	now := s.now()
	list, err := s.Store.UnpaidPayOrders(ctx, now.Add(-window), now.Add(-after), reconcileBatch, unplaced)
	if err != nil {
		return res, err
	}
	for _, o := range list {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.Asked++
		state, err := one(ctx, o)
		if err != nil {
			res.Failed++
			s.logger().Warn(what, "component_appid", o.ComponentAppID, "sub_mchid", o.SubMchID, "out_trade_no", o.OutTradeNo, "err", err)
			continue
		}
		switch state {
		case wxfleet.OrderPaid:
			res.Paid++
		case wxfleet.OrderClosed:
			res.Closed++
		}
	}
	return res, nil
}
