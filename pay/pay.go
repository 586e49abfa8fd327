// Package pay takes WeChat Pay (微信支付) payments for the merchants' mini
// programs in service-provider mode (服务商模式, API v3 "partner"): it onboards
// merchants as sub-merchants (特约商户进件), keeps which mini program pays to
// which sub-merchant, places partner JSAPI orders for mini-program users and
// signs the parameters of wx.requestPayment, and receives the payment
// notifications. It calls WeChat Pay through wechatpay-go's core client,
// pointed at the configured pay host (the sandbox in the demo). The facts it
// relies on are in docs/wechat-pay.md.
package pay

import (
	"context"
	"crypto/rsa"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/webhook"
)

// paidEvent is the pay.paid event of a recorded payment: its Then, run in
// the transaction that records it (nil without Events).
func (s *Service) paidEvent(n *wxfleet.PayNotification, appID string, total int64, source string) store.Then {
	if s.Events == nil {
		return nil
	}
	ev := webhook.Event{ID: webhook.EventID(webhook.PayPaid, n.ComponentAppID, n.SubMchID, n.OutTradeNo, n.TransactionID),
		Type: webhook.PayPaid, ComponentAppID: n.ComponentAppID, AppID: appID, Data: map[string]any{
			"out_trade_no": n.OutTradeNo, "sub_mchid": n.SubMchID, "transaction_id": n.TransactionID, "amount": total, "source": source}}
	return func(ctx context.Context, tx *sql.Tx) error { return s.Events.Emit(ctx, tx, ev) }
}

// closedEvent is the pay.closed event of an order closed here, its Then
// (nil without Events); source says how: "close" (asked for), "auto" (the
// auto-close), "query" (WeChat Pay answered CLOSED).
func (s *Service) closedEvent(o *wxfleet.PayOrder, source string) store.Then {
	if s.Events == nil {
		return nil
	}
	ev := webhook.Event{ID: webhook.EventID(webhook.PayClosed, o.ComponentAppID, o.SubMchID, o.OutTradeNo),
		Type: webhook.PayClosed, ComponentAppID: o.ComponentAppID, AppID: o.AppID, Data: map[string]any{
			"out_trade_no": o.OutTradeNo, "sub_mchid": o.SubMchID, "amount": o.Amount, "source": source}}
	return func(ctx context.Context, tx *sql.Tx) error { return s.Events.Emit(ctx, tx, ev) }
}

// ProductionURL is WeChat Pay's API host.
const ProductionURL = "https://api.mch.weixin.qq.com"

// callTimeout bounds one call to WeChat Pay.
const callTimeout = 10 * time.Second

// Service is WeChat Pay for every platform that has a provider merchant
// configured. Build it once in main; zero HTTPClient, Now and Logger mean
// their defaults.
type Service struct {
	Store *store.Store
	// HTTPClient carries the calls; nil → http.DefaultTransport with a 10 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
	// Events receives pay.paid, pay.refund and pay.closed, in the
	// transaction that records the payment, the refund's result or the
	// close, once; nil sends none.
	Events webhook.Emitter

	mu      sync.Mutex
	clients map[string]*merchantClient // by component appid
}

// merchantClient is a provider merchant with the SDK client built for it.
type merchantClient struct {
	m      *wxfleet.PayMerchant
	key    *rsa.PrivateKey
	pub    *rsa.PublicKey
	client *core.Client
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Configure checks a platform's provider merchant (the keys parse, the APIv3
// key has 32 characters, the base URL is a bare host) and stores it, its
// secrets sealed.
func (s *Service) Configure(ctx context.Context, m *wxfleet.PayMerchant) error {
	if _, _, err := parseKeys(m); err != nil {
		return err
	}
	switch {
	case m.SpMchID == "" || m.SpAppID == "" || m.CertSerial == "" || m.PublicKeyID == "":
		return wxfleet.Errorf(wxfleet.EINVALID, "微信支付配置缺少 sp_mchid、sp_appid、证书序列号或微信支付公钥 ID / the pay settings need sp_mchid, sp_appid, the certificate serial and the WeChat Pay public key id")
	case len(m.APIv3Key.Reveal()) != 32:
		return wxfleet.Errorf(wxfleet.EINVALID, "APIv3 密钥须为 32 个字符 / the APIv3 key must be 32 characters")
	case m.NotifyURL == "":
		return wxfleet.Errorf(wxfleet.EINVALID, "缺少支付通知地址 / the notify URL is missing")
	}
	if m.BaseURL != "" {
		u, err := url.Parse(m.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return wxfleet.Errorf(wxfleet.EINVALID, "微信支付地址须为 http(s)://主机 / the pay base URL must be http(s)://host, without a path")
		}
	}
	if m.UpdatedAt.IsZero() {
		m.UpdatedAt = s.now()
	}
	if err := s.Store.PutPayMerchant(ctx, m); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.clients, m.ComponentAppID)
	s.mu.Unlock()
	s.logger().Info("pay: merchant configured", "component_appid", m.ComponentAppID, "merchant", m)
	return nil
}

func parseKeys(m *wxfleet.PayMerchant) (*rsa.PrivateKey, *rsa.PublicKey, error) {
	key, err := utils.LoadPrivateKey(m.PrivateKey.Reveal())
	if err != nil {
		return nil, nil, wxfleet.WrapError(wxfleet.EINVALID, "商户 API 私钥无法解析（PEM）/ the merchant API private key does not parse (PEM)", err)
	}
	pub, err := utils.LoadPublicKey(m.PublicKey)
	if err != nil {
		return nil, nil, wxfleet.WrapError(wxfleet.EINVALID, "微信支付公钥无法解析（PEM）/ the WeChat Pay public key does not parse (PEM)", err)
	}
	return key, pub, nil
}

// client returns the platform's merchant and its SDK client, rebuilt when
// the stored configuration changed (another instance may have changed it).
func (s *Service) client(ctx context.Context, componentAppID string) (*merchantClient, error) {
	m, err := s.Store.PayMerchant(ctx, componentAppID)
	if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
		return nil, wxfleet.Errorf(wxfleet.EUNAVAILABLE, "该平台尚未配置微信支付 / WeChat Pay is not configured for this platform")
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[componentAppID]; c != nil && c.m.UpdatedAt.Equal(m.UpdatedAt) {
		return c, nil
	}
	key, pub, err := parseKeys(m)
	if err != nil {
		return nil, err
	}
	hc := s.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: callTimeout}
	}
	if m.BaseURL != "" && m.BaseURL != ProductionURL {
		base, _ := url.Parse(m.BaseURL)
		rebased := *hc
		rebased.Transport = rebase{base: base, next: transportOf(hc)}
		hc = &rebased
	}
	// Public-key mode: WeChat Pay's public key verifies answers and
	// notifications, and encrypts sensitive fields (docs/wechat-pay.md).
	c, err := core.NewClient(ctx,
		option.WithWechatPayPublicKeyAuthCipher(m.SpMchID, m.CertSerial, key, m.PublicKeyID, pub),
		option.WithHTTPClient(hc))
	if err != nil {
		return nil, wxfleet.WrapError(wxfleet.EINTERNAL, "无法创建微信支付客户端 / cannot build the WeChat Pay client", err)
	}
	mc := &merchantClient{m: m, key: key, pub: pub, client: c}
	if s.clients == nil {
		s.clients = map[string]*merchantClient{}
	}
	s.clients[componentAppID] = mc
	return mc, nil
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// rebase sends the SDK's requests, which always name WeChat Pay's host, to
// the configured one. The path and query (what the request signature
// covers) are kept.
type rebase struct {
	base *url.URL
	next http.RoundTripper
}

func (t rebase) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.Scheme, r2.URL.Host, r2.Host = t.base.Scheme, t.base.Host, t.base.Host
	return t.next.RoundTrip(r2)
}

// apiError turns what the SDK returned into a coded error: WeChat Pay's
// code and message for a refusal, "unavailable" for a failed call.
func apiError(zh, en string, err error) error {
	var ae *core.APIError
	if errors.As(err, &ae) {
		code := wxfleet.EUNAVAILABLE
		switch {
		case ae.StatusCode == http.StatusBadRequest:
			code = wxfleet.EINVALID
		case ae.StatusCode == http.StatusForbidden:
			code = wxfleet.EFORBIDDEN
		case ae.StatusCode == http.StatusNotFound:
			code = wxfleet.ENOTFOUND
		}
		return wxfleet.WrapError(code, fmt.Sprintf("微信支付拒绝了%s：%s %s / WeChat Pay refused %s: %s %s",
			zh, ae.Code, ae.Message, en, ae.Code, ae.Message), err)
	}
	return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "暂时无法连接微信支付，请稍后再试 / WeChat Pay cannot be reached now: try again shortly", err)
}

// outTradeNoPattern is WeChat Pay's rule for out_trade_no.
var outTradeNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{6,32}$`)

// outRefundNoPattern is its rule for out_refund_no.
var outRefundNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*@]{1,64}$`)
