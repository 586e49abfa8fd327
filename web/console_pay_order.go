package web

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/pay"
)

// The console's order page (docs/wechat-pay.md, "Query and close",
// "Refunds"): one order with its state in words, asked about at WeChat Pay
// on request, closed after a confirmation while unpaid, refunded in yuan,
// and its refunds. Tenant-scoped like the API's order routes: a merchant
// reads and refunds only its own tenant's orders (findPayOrder bounds them
// by scopeOf), another tenant's being as missing as one that never was.
// The merchant portal links here, so the path and its ?platform= and
// ?sub_mchid= stay as they are.

func (s *Server) payOrderPages(mux *http.ServeMux) {
	if s.Pay == nil {
		return
	}
	s.page(mux, "GET /pay/orders/{out_trade_no}", TenantRead(), s.payOrderPage)
	s.page(mux, "POST /pay/orders/{out_trade_no}/close", TenantWrite("pay.order.close"), s.closePayOrderForm)
	s.page(mux, "POST /pay/orders/{out_trade_no}/refunds", TenantWrite("pay.refund.create"), s.refundPayOrderForm)
}

// orderStates and refundStates are WeChat Pay's states in words.
var (
	orderStates = map[string][2]string{ // tone, label
		wxfleet.OrderNotPaid: {"warn", "未支付 not paid"},
		wxfleet.OrderPaid:    {"ok", "已支付 paid"},
		wxfleet.OrderClosed:  {"bad", "已关闭 closed"},
	}
	refundStates = map[string][2]string{
		wxfleet.RefundUnplaced:   {"warn", "微信支付尚未受理 not accepted by WeChat Pay yet"},
		wxfleet.RefundProcessing: {"warn", "退款处理中 being refunded"},
		wxfleet.RefundSuccess:    {"ok", "已退款 refunded"},
		wxfleet.RefundClosed:     {"bad", "退款已关闭 closed"},
		wxfleet.RefundAbnormal:   {"bad", "退款异常 abnormal: see WeChat Pay's merchant platform"},
	}
)

// payOrderPath is the order page of o.
func payOrderPath(o *wxfleet.PayOrder) string {
	return "/pay/orders/" + url.PathEscape(o.OutTradeNo) + platformQuery(o.ComponentAppID) + "&sub_mchid=" + url.QueryEscape(o.SubMchID)
}

// refundLeft is what may still be refunded of o: its amount less every
// refund not closed (one WeChat Pay is still deciding counts: it may succeed).
func refundLeft(o *wxfleet.PayOrder, refunds []*wxfleet.PayRefund) int64 {
	left := o.Amount
	for _, f := range refunds {
		if f.Status != wxfleet.RefundClosed {
			left -= f.Amount
		}
	}
	return max(left, 0)
}

// yuanPattern is an amount in yuan: at most two decimals, no sign, no exponent.
var yuanPattern = regexp.MustCompile(`^([0-9]{1,10})(?:\.([0-9]{1,2}))?$`)

// parseYuan reads an amount in yuan ("12", "0.5", "0.01") as fen.
func parseYuan(v string) (int64, error) {
	m := yuanPattern.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return 0, wxfleet.Errorf(wxfleet.EINVALID, "金额须以元为单位，最多两位小数，如 0.01 / the amount is in yuan with at most two decimals, e.g. 0.01")
	}
	whole, _ := strconv.ParseInt(m[1], 10, 64)
	frac, _ := strconv.ParseInt((m[2] + "00")[:2], 10, 64)
	fen := whole*100 + frac
	if fen <= 0 {
		return 0, wxfleet.Errorf(wxfleet.EINVALID, "金额须大于 0 / the amount must be more than 0")
	}
	return fen, nil
}

// refundForm is the refund form as the page holds it.
type refundForm struct {
	Amount, Reason string
}

// payOrderView is what the order page shows; the messages are for a form
// WeChat Pay (or the check before it) refused, or a read that failed.
type payOrderView struct {
	Order                        *wxfleet.PayOrder
	Refunds                      []*wxfleet.PayRefund
	TradeState, TradeStateDesc   string // WeChat Pay's answer, when asked
	ReadErr, CloseErr, RefundErr string
	Refund                       refundForm
}

func (s *Server) payOrderPage(w http.ResponseWriter, r *http.Request) {
	o, err := s.findPayOrder(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, s.payBack(r))
		return
	}
	v := payOrderView{Order: o}
	refresh := r.URL.Query().Get("refresh") == "true"
	if refresh {
		got, tx, err := s.Pay.RefreshOrder(r.Context(), o)
		if err != nil {
			v.ReadErr = wxfleet.ErrorMessage(err)
		} else {
			v.Order, v.TradeState, v.TradeStateDesc = got, derefStr(tx.TradeState), derefStr(tx.TradeStateDesc)
		}
	}
	s.renderPayOrder(w, r, http.StatusOK, v, refresh)
}

func derefStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// payBack is where a page about an order goes back to: the pay page for the
// ISV's staff, the portal for a merchant.
func (s *Server) payBack(r *http.Request) string {
	if actor, ok := wxfleet.ActorFrom(r.Context()); ok && !actor.Role.Staff() {
		return "/"
	}
	comp, _ := s.platform(r)
	return "/pay" + platformQuery(comp)
}

// renderPayOrder shows v, its refunds read first (from WeChat Pay too when
// refresh; a failed read is shown, not fatal).
func (s *Server) renderPayOrder(w http.ResponseWriter, r *http.Request, status int, v payOrderView, refresh bool) {
	refunds, err := s.Pay.Refunds(r.Context(), v.Order, refresh)
	if err != nil && refresh {
		if v.ReadErr == "" {
			v.ReadErr = wxfleet.ErrorMessage(err)
		}
		refunds, err = s.Pay.Refunds(r.Context(), v.Order, false)
	}
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, s.payBack(r))
		return
	}
	v.Refunds = refunds
	left := refundLeft(v.Order, refunds)
	s.render(w, r, status, "pay_order", map[string]any{
		"Title": "订单 " + v.Order.OutTradeNo + " Order", "Platform": v.Order.ComponentAppID, "V": v, "Left": left, "CanRefund": v.Order.State == wxfleet.OrderPaid && left > 0,
		"Self": payOrderPath(v.Order), "Back": s.payBack(r), "Placed": r.URL.Query().Get("placed") != "",
		"Refunded": r.URL.Query().Get("refunded"),
	})
}

// closePayOrderForm closes an unpaid order after a confirmation; WeChat
// Pay's refusal (ORDERPAID for one paid meanwhile) is shown on the order page.
func (s *Server) closePayOrderForm(w http.ResponseWriter, r *http.Request) {
	o, err := s.findPayOrder(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, s.payBack(r))
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		auditSkip(r) // asked, not done
		s.render(w, r, http.StatusOK, "confirm", map[string]any{
			"Title": "请确认 Please confirm", "Platform": o.ComponentAppID, "Back": payOrderPath(o),
			"What":       "关闭订单：在微信支付关单，用户不能再支付它 / Close the order: it is closed at WeChat Pay and the user can no longer pay it",
			"FormAction": "/pay/orders/" + url.PathEscape(o.OutTradeNo) + "/close" + platformQuery(o.ComponentAppID) + "&sub_mchid=" + url.QueryEscape(o.SubMchID),
			"Subject":    "订单 Order " + o.OutTradeNo,
		})
		return
	}
	if _, err := s.Pay.CloseOrder(r.Context(), o); err != nil {
		auditSkip(r)
		if after, ferr := s.Pay.FindOrder(r.Context(), scopeOf(r), o.ComponentAppID, o.SubMchID, o.OutTradeNo); ferr == nil {
			o = after // ORDERPAID recorded its payment
		}
		s.renderPayOrder(w, r, statusOfErr(err), payOrderView{Order: o, CloseErr: wxfleet.ErrorMessage(err)}, false)
		return
	}
	auditTarget(r, o.ComponentAppID, o.AppID, o.OutTradeNo)
	http.Redirect(w, r, payOrderPath(o), http.StatusSeeOther)
}

// refundPayOrderForm refunds part or all of a paid order, the amount in
// yuan and at most what is left; a refusal is shown with the input kept.
func (s *Server) refundPayOrderForm(w http.ResponseWriter, r *http.Request) {
	o, err := s.findPayOrder(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, s.payBack(r))
		return
	}
	f := refundForm{Amount: strings.TrimSpace(r.PostFormValue("amount")), Reason: strings.TrimSpace(r.PostFormValue("reason"))}
	refused := func(err error) {
		auditSkip(r)
		s.renderPayOrder(w, r, statusOfErr(err), payOrderView{Order: o, RefundErr: wxfleet.ErrorMessage(err), Refund: f}, false)
	}
	fen, err := parseYuan(f.Amount)
	if err != nil {
		refused(err)
		return
	}
	refunds, err := s.Pay.Refunds(r.Context(), o, false)
	if err != nil {
		refused(err)
		return
	}
	if left := refundLeft(o, refunds); fen > left {
		refused(wxfleet.Errorf(wxfleet.EINVALID, "退款金额 %s 元超过可退的 %s 元 / %s yuan is more than the %s yuan left to refund",
			yuanText(fen), yuanText(left), yuanText(fen), yuanText(left)))
		return
	}
	rf, err := s.Pay.Refund(r.Context(), o, pay.RefundRequest{Amount: fen, Reason: f.Reason})
	if err != nil {
		refused(err)
		return
	}
	auditTarget(r, o.ComponentAppID, o.AppID, rf.OutRefundNo)
	http.Redirect(w, r, payOrderPath(o)+"&refunded="+url.QueryEscape(rf.OutRefundNo), http.StatusSeeOther)
}

// yuanText is fen as yuan ({{yuan}} on the pages).
func yuanText(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }
