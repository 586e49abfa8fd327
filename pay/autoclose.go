package pay

import (
	"context"
	"errors"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"

	"github.com/wxfleet/wxfleet"
)

// Auto-close (docs/wechat-pay.md, "Unpaid orders are closed"): a prepay_id
// lives two hours, so an order still unpaid after that will not be paid
// through it. Such an order is asked about first, since its payment may
// have happened and its notification been lost, and closed at WeChat Pay
// and here only when WeChat Pay still says NOTPAY. One WeChat Pay does not
// know (ORDER_NOT_EXIST: its placing never reached it, or its answer was
// lost before a prepay_id came back) is closed here alone.

const (
	// DefaultCloseAfter is how long after its creation an unpaid order is
	// closed: the life of its prepay_id.
	DefaultCloseAfter = 2 * time.Hour
	// closeWindow is how far back the auto-close looks: an order that could
	// not be closed for a month (its platform lost its merchant) is left
	// alone rather than asked about every minute forever.
	closeWindow = 30 * 24 * time.Hour
)

// CloseUnpaid asks WeChat Pay about every order still unpaid after (since
// its creation; 0 → DefaultCloseAfter), at most reconcileBatch of them,
// the oldest first. One WeChat Pay answers paid is recorded paid, as
// Reconcile does; one still NOTPAY is closed at WeChat Pay and here. An
// order WeChat Pay cannot answer for, or that is being paid (USERPAYING),
// is left for the next run; it does not stop the others.
func (s *Service) CloseUnpaid(ctx context.Context, after time.Duration) (ReconcileResult, error) {
	if after <= 0 {
		after = DefaultCloseAfter
	}
	return s.eachUnpaid(ctx, closeWindow, after, true, "pay: closing an unpaid order", s.closeIfUnpaid)
}

// closeIfUnpaid is one order of CloseUnpaid: the state it ends in.
func (s *Service) closeIfUnpaid(ctx context.Context, o *wxfleet.PayOrder) (string, error) {
	got, tx, err := s.RefreshOrder(ctx, o)
	var ae *core.APIError
	if errors.As(err, &ae) && ae.Code == "ORDER_NOT_EXIST" {
		// Its placing failed on the way (no prepay_id came back) and WeChat
		// Pay never took it: nothing to close there, and nobody can pay it.
		if _, err := s.Store.ClosePayOrder(ctx, o.ComponentAppID, o.SubMchID, o.OutTradeNo, s.closedEvent(o, "auto")); err != nil {
			return "", err
		}
		s.logger().Info("pay: unplaced order closed", "component_appid", o.ComponentAppID, "sub_mchid", o.SubMchID,
			"out_trade_no", o.OutTradeNo, "created_at", o.CreatedAt)
		return wxfleet.OrderClosed, nil
	}
	if err != nil {
		return "", err
	}
	if got.State != wxfleet.OrderNotPaid || str(tx.TradeState) != wxfleet.OrderNotPaid {
		return got.State, nil // paid or closed (recorded), or not NOTPAY at WeChat Pay yet
	}
	closed, err := s.closeOrder(ctx, got, "auto")
	if wxfleet.ErrorCode(err) == wxfleet.ECONFLICT {
		// Paid between the query and the close (ORDERPAID): CloseOrder recorded it.
		if after, ferr := s.Store.PayOrder(ctx, wxfleet.Scope{}, o.ComponentAppID, o.SubMchID, o.OutTradeNo); ferr == nil && after.State == wxfleet.OrderPaid {
			return wxfleet.OrderPaid, nil
		}
	}
	if err != nil {
		return "", err
	}
	if closed.State == wxfleet.OrderClosed {
		s.logger().Info("pay: unpaid order closed", "component_appid", o.ComponentAppID, "sub_mchid", o.SubMchID,
			"out_trade_no", o.OutTradeNo, "created_at", o.CreatedAt)
	}
	return closed.State, nil
}
