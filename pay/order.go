package pay

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/validators"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/partnerpayments/jsapi"

	"github.com/wxfleet/wxfleet"
)

// maxAmount bounds one order (fen): a typo should not ask a user for a fortune.
const maxAmount = 10_000_000_00

// OrderRequest is what a mini program asks to be paid.
type OrderRequest struct {
	Description string
	Amount      int64  // fen
	OutTradeNo  string // "" → one is made
}

// RequestPayment is what the mini program passes to wx.requestPayment.
type RequestPayment struct {
	OutTradeNo string `json:"out_trade_no"`
	TimeStamp  string `json:"timeStamp"`
	NonceStr   string `json:"nonceStr"`
	Package    string `json:"package"`
	SignType   string `json:"signType"`
	PaySign    string `json:"paySign"`
}

// CreateOrder places a partner JSAPI order for the session's user, paid to
// the sub-merchant bound to the session's mini program, and signs the
// parameters of wx.requestPayment (appId = the mini program, the sub_appid).
// The order is stored before WeChat Pay sees it; asking again with the same
// out_trade_no and the same content places it again (WeChat Pay answers the
// same prepay_id), with other content is ECONFLICT.
func (s *Service) CreateOrder(ctx context.Context, rs *wxfleet.RuntimeSession, req OrderRequest) (*RequestPayment, error) {
	switch n := utf8.RuneCountInString(req.Description); {
	case n == 0 || n > 127:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "description 须为 1 到 127 个字符 / description must be 1 to 127 characters")
	case req.Amount <= 0 || req.Amount > maxAmount:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "amount 须为正的分数，且不超过 %d / amount must be a positive number of fen, at most %d", maxAmount, maxAmount)
	}
	if req.OutTradeNo == "" {
		req.OutTradeNo = newOutTradeNo()
	} else if !outTradeNoPattern.MatchString(req.OutTradeNo) {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "out_trade_no 须为 6 到 32 位数字、字母或 _-|* / out_trade_no must be 6 to 32 digits, letters or _-|*")
	}
	mc, err := s.client(ctx, rs.ComponentAppID)
	if err != nil {
		return nil, err
	}
	b, err := s.Store.PaySubMerchant(ctx, wxfleet.Scope{}, rs.ComponentAppID, rs.AppID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "该小程序尚未绑定微信支付特约商户 / this mini program is bound to no WeChat Pay sub-merchant yet")
	}
	if err != nil {
		return nil, err
	}
	o := &wxfleet.PayOrder{ComponentAppID: rs.ComponentAppID, OutTradeNo: req.OutTradeNo, SubMchID: b.SubMchID, AppID: rs.AppID,
		OpenID: rs.OpenID, Description: req.Description, Amount: req.Amount, State: wxfleet.OrderNotPaid, CreatedAt: s.now()}
	if err := s.Store.CreatePayOrder(ctx, o); err != nil {
		if wxfleet.ErrorCode(err) != wxfleet.ECONFLICT {
			return nil, err
		}
		old, oerr := s.Store.PayOrder(ctx, wxfleet.Scope{}, o.ComponentAppID, o.SubMchID, o.OutTradeNo)
		if oerr != nil || old.OpenID != o.OpenID || old.Amount != o.Amount || old.Description != o.Description || old.AppID != o.AppID {
			return nil, err
		}
		if old.State != wxfleet.OrderNotPaid {
			return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "订单 %s 已支付或已关闭 / order %s is paid or closed", o.OutTradeNo, o.OutTradeNo)
		}
	}
	svc := jsapi.JsapiApiService{Client: mc.client}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, _, err := svc.PrepayWithRequestPayment(cctx, jsapi.PrepayRequest{
		SpAppid: core.String(mc.m.SpAppID), SpMchid: core.String(mc.m.SpMchID),
		SubAppid: core.String(rs.AppID), SubMchid: core.String(b.SubMchID),
		Description: core.String(req.Description), OutTradeNo: core.String(req.OutTradeNo),
		NotifyUrl: core.String(mc.m.NotifyURL),
		Amount:    &jsapi.Amount{Total: core.Int64(req.Amount), Currency: core.String("CNY")},
		Payer:     &jsapi.Payer{SubOpenid: core.String(rs.OpenID)},
	}, rs.AppID)
	if err != nil {
		var ae *core.APIError
		if errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 {
			// WeChat Pay did not take it: nothing to keep.
			if derr := s.Store.DropUnplacedPayOrder(ctx, o.ComponentAppID, o.SubMchID, o.OutTradeNo); derr != nil {
				s.logger().Warn("pay: dropping a refused order", "out_trade_no", o.OutTradeNo, "err", derr)
			}
		}
		return nil, apiError("下单", "the order", err)
	}
	if err := s.Store.SetPayOrderPrepay(ctx, o.ComponentAppID, o.SubMchID, o.OutTradeNo, *resp.PrepayId); err != nil {
		return nil, err
	}
	return &RequestPayment{OutTradeNo: req.OutTradeNo, TimeStamp: *resp.TimeStamp, NonceStr: *resp.NonceStr,
		Package: *resp.Package, SignType: *resp.SignType, PaySign: *resp.PaySign}, nil
}

// newOutTradeNo is 32 hex digits: unique without asking anyone.
func newOutTradeNo() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Orders lists a platform's orders inside sc, of one mini program when
// appID is set.
func (s *Service) Orders(ctx context.Context, sc wxfleet.Scope, componentAppID, appID string, limit int) ([]*wxfleet.PayOrder, error) {
	return s.Store.PayOrders(ctx, sc, componentAppID, appID, limit)
}

// Notified is what HandleNotification did with a notification.
type Notified struct {
	Notification *wxfleet.PayNotification
	New          bool // false: a replay, already stored
}

// HandleNotification verifies a payment notification (the signature with
// WeChat Pay's public key, named by Wechatpay-Serial, and the timestamp
// within five minutes), decrypts it with the APIv3 key and stores it, with
// the order marked paid, before the caller acknowledges it. A bad signature
// is EUNAUTHORIZED and stores nothing; a replay is stored once.
func (s *Service) HandleNotification(ctx context.Context, header http.Header, body []byte) (*Notified, error) {
	serial := header.Get("Wechatpay-Serial")
	ms, err := s.Store.PayMerchants(ctx)
	if err != nil {
		return nil, err
	}
	var m *wxfleet.PayMerchant
	for _, x := range ms {
		if x.PublicKeyID == serial {
			m = x
		}
	}
	if m == nil {
		return nil, wxfleet.Errorf(wxfleet.EUNAUTHORIZED, "通知的 Wechatpay-Serial 不是已配置的微信支付公钥 / the notification's Wechatpay-Serial names no configured WeChat Pay public key")
	}
	mc, err := s.client(ctx, m.ComponentAppID)
	if err != nil {
		return nil, err
	}
	verifier := verifiers.NewSHA256WithRSAPubkeyVerifier(m.PublicKeyID, *mc.pub)
	req := func() *http.Request {
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, "/pay/notify", bytes.NewReader(body))
		r.Header = header.Clone()
		return r
	}
	if err := validators.NewWechatPayNotifyValidator(verifier).Validate(ctx, req()); err != nil {
		return nil, wxfleet.WrapError(wxfleet.EUNAUTHORIZED, "支付通知验签失败 / the payment notification's signature or timestamp does not verify", err)
	}
	var plain json.RawMessage
	nr, err := notify.NewNotifyHandler(mc.m.APIv3Key.Reveal(), verifier).ParseNotifyRequest(ctx, req(), &plain)
	if err != nil {
		return nil, wxfleet.WrapError(wxfleet.EINVALID, "支付通知无法解密 / the payment notification does not decrypt", err)
	}
	if nr.ID == "" {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "支付通知缺少 id / the notification has no id")
	}
	if strings.HasPrefix(nr.EventType, "REFUND.") {
		return s.refundNotification(ctx, mc.m, nr.ID, nr.EventType, plain)
	}
	var tx partnerpayments.Transaction
	if err := json.Unmarshal(plain, &tx); err != nil {
		return nil, wxfleet.WrapError(wxfleet.EINVALID, "支付通知的内容无法解析 / the payment notification's resource does not parse", err)
	}
	if str(tx.SpMchid) != mc.m.SpMchID || str(tx.OutTradeNo) == "" || str(tx.SubMchid) == "" {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "支付通知不属于本服务商 / the notification is not for this provider")
	}
	n := &wxfleet.PayNotification{ID: nr.ID, ComponentAppID: m.ComponentAppID, EventType: nr.EventType,
		TransactionID: str(tx.TransactionId), OutTradeNo: str(tx.OutTradeNo), SubMchID: str(tx.SubMchid),
		TradeState: str(tx.TradeState), Resource: plain, ReceivedAt: s.now()}
	var total int64
	if tx.Amount != nil && tx.Amount.Total != nil {
		total = *tx.Amount.Total
	}
	inserted, err := s.Store.RecordPayNotification(ctx, n, s.now(), s.paidEvent(n, str(tx.SubAppid), total, "notification"))
	if err != nil {
		return nil, err
	}
	s.logger().Info("pay: notification", "component_appid", n.ComponentAppID, "id", n.ID, "event_type", n.EventType,
		"out_trade_no", n.OutTradeNo, "trade_state", n.TradeState, "new", inserted)
	return &Notified{Notification: n, New: inserted}, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
