package sandbox

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WeChat Pay (微信支付), service-provider (服务商, partner) mode, API v3
// (docs/wechat-pay.md). The sandbox plays api.mch.weixin.qq.com: one service
// provider merchant (sp_mchid) whose API key pair it generates for the
// platform (the platform signs requests with the private half, as a real
// provider signs with the key of its 商户API证书), and WeChat Pay's own key
// pair (the 微信支付公钥, named PUB_KEY_ID_…) that signs answers and
// notifications and decrypts the sensitive fields of an onboarding form.
// GET /sandbox/api/pay/merchant hands the platform everything it needs to
// configure itself: demo only, a real WeChat Pay never shows a private key.
//
// The pay state (keys, sub-merchants, applications, orders, notifications)
// lives in memory under payState.mu (never held together with Sandbox.mu)
// and is written, sealed with sandbox.key, to {DataDir}/sandbox-pay.json
// after every change. The keys are generated on first use, so sandboxes
// that never see a payment pay nothing for RSA key generation.

const payStateFile = "sandbox-pay.json"

// payClockSkew is how far a request's signed timestamp may be from the
// wall clock (docs/wechat-pay.md: five minutes, unverified for requests).
const payClockSkew = 5 * time.Minute

// payState is everything WeChat Pay remembers.
type payState struct {
	mu     sync.Mutex
	loaded bool
	path   string

	Merchant      payMerchant                `json:"merchant"`
	SubMerchants  map[string]*paySubMerchant `json:"sub_merchants"` // by sub_mchid
	Applyments    map[string]*payApplyment   `json:"applyments"`    // by business_code
	Orders        map[string]*payOrder       `json:"orders"`        // by sub_mchid + " " + out_trade_no
	Refunds       map[string]*payRefund      `json:"refunds"`       // by sub_mchid + " " + out_refund_no
	Notifications []*payNotification         `json:"notifications"`
	NextID        int64                      `json:"next_id"`

	spKey  *rsa.PrivateKey // the merchant's API key (the platform holds it)
	wxKey  *rsa.PrivateKey // WeChat Pay's key (the platform holds the public half)
	wakeCh chan struct{}
}

// payMerchant is the service provider as WeChat Pay knows it.
type payMerchant struct {
	SpMchID      string `json:"sp_mchid"`
	SpAppID      string `json:"sp_appid"`
	CertSerial   string `json:"cert_serial"` // serial of the merchant's API certificate
	PrivateKey   string `json:"private_key"` // PKCS#8 PEM of the merchant's API key
	APIv3Key     string `json:"apiv3_key"`   // 32 characters
	WxPublicID   string `json:"wechatpay_public_key_id"`
	WxPrivateKey string `json:"wechatpay_private_key"` // PKCS#8 PEM
}

// paySubMerchant is a 特约商户 of the provider and the appids bound to it
// (特约商户 APPID 配置, done in the merchant platform).
type paySubMerchant struct {
	SubMchID string   `json:"sub_mchid"`
	Name     string   `json:"name"`
	AppIDs   []string `json:"appids"`
	// RefundRefusal is the refusal every refund of the sub-merchant gets
	// (a code of refundRefusals) until cleared: the control call's stand-in
	// for an account with too little balance, a payer's closed account or
	// a rate limit, which the sandbox does not model.
	RefundRefusal string `json:"refund_refusal,omitempty"`
}

// refundRefusals are the refund errors a sub-merchant can be set to answer,
// with the status WeChat Pay's refund error table pairs them with
// (docs/wechat-pay.md "Refunds").
var refundRefusals = map[string]*payError{
	"NOT_ENOUGH":            {status: 403, Code: "NOT_ENOUGH", Message: "余额不足"},
	"USER_ACCOUNT_ABNORMAL": {status: 403, Code: "USER_ACCOUNT_ABNORMAL", Message: "退款请求失败"},
	"FREQUENCY_LIMITED":     {status: 429, Code: "FREQUENCY_LIMITED", Message: "频率限制"},
}

func (m *paySubMerchant) bound(appid string) bool {
	for _, a := range m.AppIDs {
		if a == appid {
			return true
		}
	}
	return false
}

// pay returns the loaded pay state, loading (or generating) it on first use.
func (s *Sandbox) pay() (*payState, error) {
	p := s.payS
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded {
		return p, nil
	}
	p.path = filepath.Join(s.cfg.DataDir, payStateFile)
	data, err := os.ReadFile(p.path)
	switch {
	case err == nil:
		plain, err := s.box.open(data, []byte(payStateFile))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(plain, p); err != nil {
			return nil, fmt.Errorf("sandbox: %s: %w", payStateFile, err)
		}
	case errors.Is(err, os.ErrNotExist):
		if err := p.generate(); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if p.spKey, err = parsePrivatePEM(p.Merchant.PrivateKey); err != nil {
		return nil, err
	}
	if p.wxKey, err = parsePrivatePEM(p.Merchant.WxPrivateKey); err != nil {
		return nil, err
	}
	if p.SubMerchants == nil {
		p.SubMerchants = map[string]*paySubMerchant{}
	}
	if p.Applyments == nil {
		p.Applyments = map[string]*payApplyment{}
	}
	if p.Orders == nil {
		p.Orders = map[string]*payOrder{}
	}
	if p.Refunds == nil {
		p.Refunds = map[string]*payRefund{}
	}
	p.loaded = true
	return p, s.savePayLocked(p)
}

// generate makes a new provider: its API key pair and WeChat Pay's.
func (p *payState) generate() error {
	sp, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	wx, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	serial := make([]byte, 20)
	rand.Read(serial)
	p.Merchant = payMerchant{
		SpMchID:      "1900000109",
		SpAppID:      "wx8888888888888888",
		CertSerial:   strings.ToUpper(hex.EncodeToString(serial)),
		PrivateKey:   privatePEM(sp),
		APIv3Key:     randomAlnum(32),
		WxPublicID:   "PUB_KEY_ID_0119000001090000" + strconv.FormatInt(time.Now().Unix()%100000000, 10),
		WxPrivateKey: privatePEM(wx),
	}
	p.NextID = 1
	return nil
}

// savePayLocked writes the state; p.mu is held.
func (s *Sandbox) savePayLocked(p *payState) error {
	plain, err := json.Marshal(p)
	if err != nil {
		return err
	}
	sealed, err := s.box.seal(plain, []byte(payStateFile))
	if err != nil {
		return err
	}
	tmp := p.path + ".tmp"
	if err := os.WriteFile(tmp, sealed, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p.path)
}

// nextIDLocked returns a fresh number for ids; p.mu is held.
func (p *payState) nextIDLocked() int64 {
	p.NextID++
	return p.NextID
}

func privatePEM(k *rsa.PrivateKey) string {
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func publicPEM(k *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func parsePrivatePEM(s string) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("sandbox: pay key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("sandbox: pay key is not RSA")
	}
	return rk, nil
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomAlnum(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// payError is WeChat Pay's error body.
type payError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *payError) Error() string { return e.Code + ": " + e.Message }

func payErr(status int, code, format string, args ...any) *payError {
	return &payError{status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// payAPI is one emulated WeChat Pay API: it gets the verified request body
// and answers a value (HTTP 200 JSON, or 204 for nil) or a *payError.
type payAPI func(r *http.Request, p *payState, body []byte) (any, error)

// payRoutes registers the pay host's APIs and the control API.
func (s *Sandbox) payRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v3/pay/partner/transactions/jsapi", s.payHandler(s.payJSAPI))
	mux.HandleFunc("GET /v3/pay/partner/transactions/out-trade-no/{no}", s.payHandler(s.payQueryOrder))
	mux.HandleFunc("POST /v3/pay/partner/transactions/out-trade-no/{no}/close", s.payHandler(s.payCloseOrder))
	mux.HandleFunc("POST /v3/refund/domestic/refunds", s.payHandler(s.payCreateRefund))
	mux.HandleFunc("GET /v3/refund/domestic/refunds/{no}", s.payHandler(s.payQueryRefund))
	mux.HandleFunc("POST /v3/applyment4sub/applyment/{$}", s.payHandler(s.paySubmitApplyment))
	mux.HandleFunc("GET /v3/applyment4sub/applyment/business_code/{code}", s.payHandler(s.payQueryApplyment))
	mux.HandleFunc("/v3/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, payErr(404, "RESOURCE_NOT_EXISTS", "the sandbox does not emulate %s %s", r.Method, r.URL.Path))
	})

	mux.HandleFunc("GET /sandbox/api/pay/merchant", s.handlePayMerchant)
	mux.HandleFunc("POST /sandbox/api/pay/orders/{no}/pay", s.handlePayOrderPaid)
	mux.HandleFunc("GET /sandbox/api/pay/orders", s.handlePayOrders)
	mux.HandleFunc("GET /sandbox/api/pay/notifications", s.handlePayNotifications)
	mux.HandleFunc("POST /sandbox/api/pay/notifications/{id}/resend", s.handlePayResend)
	mux.HandleFunc("POST /sandbox/api/pay/applyments/{code}/decide", s.handlePayDecide)
	mux.HandleFunc("GET /sandbox/api/pay/applyments/{code}", s.handlePayApplymentReceived)
	mux.HandleFunc("POST /sandbox/api/pay/sub-merchants/{sub_mchid}/appids", s.handlePayBind)
	mux.HandleFunc("GET /sandbox/api/pay/sub-merchants", s.handlePaySubMerchants)
	mux.HandleFunc("POST /sandbox/api/pay/sub-merchants/{sub_mchid}/refund-refusal", s.handlePayRefundRefusal)
}

// payHandler checks what WeChat Pay checks on every API call, in its
// order: the Authorization header's form, merchant, serial, timestamp and
// signature (401 SIGN_ERROR), then runs api, and signs whatever it answers.
func (s *Sandbox) payHandler(api payAPI) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.pay()
		if err != nil {
			s.log.Error("pay state", "err", err)
			http.Error(w, "sandbox pay state unavailable", http.StatusInternalServerError)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			s.payWrite(w, p, nil, payErr(400, "PARAM_ERROR", "cannot read the body"))
			return
		}
		if perr := s.payVerify(r, p, body); perr != nil {
			s.payWrite(w, p, nil, perr)
			return
		}
		v, err := api(r, p, body)
		s.payWrite(w, p, v, err)
	}
}

// payVerify checks the request signature (docs/wechat-pay.md, "Signing").
func (s *Sandbox) payVerify(r *http.Request, p *payState, body []byte) *payError {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "WECHATPAY2-SHA256-RSA2048 ")
	if !ok {
		return payErr(401, "SIGN_ERROR", "Authorization is missing or its scheme is not WECHATPAY2-SHA256-RSA2048")
	}
	f := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return payErr(401, "SIGN_ERROR", "Authorization is malformed")
		}
		f[k] = strings.Trim(v, `"`)
	}
	for _, k := range []string{"mchid", "nonce_str", "signature", "timestamp", "serial_no"} {
		if f[k] == "" {
			return payErr(401, "SIGN_ERROR", "Authorization lacks %s", k)
		}
	}
	m := p.merchantSnapshot()
	if f["mchid"] != m.SpMchID {
		return payErr(401, "SIGN_ERROR", "mchid %s is not a merchant here", f["mchid"])
	}
	if f["serial_no"] != m.CertSerial {
		return payErr(401, "SIGN_ERROR", "serial_no %s is not the merchant's API certificate", f["serial_no"])
	}
	ts, err := strconv.ParseInt(f["timestamp"], 10, 64)
	if err != nil {
		return payErr(401, "SIGN_ERROR", "timestamp is not a number")
	}
	if d := s.wall().Sub(time.Unix(ts, 0)); d > payClockSkew || d < -payClockSkew {
		return payErr(401, "SIGN_ERROR", "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟（timestamp %d is more than 5 minutes from WeChat Pay's clock）", ts)
	}
	msg := r.Method + "\n" + r.URL.RequestURI() + "\n" + f["timestamp"] + "\n" + f["nonce_str"] + "\n" + string(body) + "\n"
	sig, err := base64.StdEncoding.DecodeString(f["signature"])
	if err != nil {
		return payErr(401, "SIGN_ERROR", "signature is not base64")
	}
	sum := sha256.Sum256([]byte(msg))
	if rsa.VerifyPKCS1v15(&p.spKey.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return payErr(401, "SIGN_ERROR", "signature does not verify with the merchant's API certificate")
	}
	return nil
}

func (p *payState) merchantSnapshot() payMerchant {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Merchant
}

// payWrite answers v (or err) and signs the answer with WeChat Pay's key:
// Wechatpay-Timestamp/Nonce/Signature/Serial over "ts\nnonce\nbody\n".
func (s *Sandbox) payWrite(w http.ResponseWriter, p *payState, v any, err error) {
	status := http.StatusOK
	var body []byte
	if err != nil {
		var perr *payError
		if !errors.As(err, &perr) {
			perr = payErr(500, "SYSTEM_ERROR", "%v", err)
		}
		status = perr.status
		body, _ = json.Marshal(perr)
	} else if v == nil {
		status = http.StatusNoContent
	} else {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	h := w.Header()
	for k, v := range s.paySignHeaders(p, body) {
		h.Set(k, v)
	}
	h.Set("Request-ID", randomAlnum(24))
	if body != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	w.Write(body)
}

// paySignHeaders are the signature headers of a message WeChat Pay sends,
// stamped with the wall clock (the platform compares it with its own).
func (s *Sandbox) paySignHeaders(p *payState, body []byte) map[string]string {
	ts := strconv.FormatInt(s.wall().Unix(), 10)
	nonce := randomAlnum(32)
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, p.wxKey, crypto.SHA256, sum[:])
	return map[string]string{
		"Wechatpay-Timestamp": ts,
		"Wechatpay-Nonce":     nonce,
		"Wechatpay-Signature": base64.StdEncoding.EncodeToString(sig),
		"Wechatpay-Serial":    p.merchantSnapshot().WxPublicID,
	}
}

// decodePay decodes a JSON body strictly enough: malformed → PARAM_ERROR.
func decodePay(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return payErr(400, "PARAM_ERROR", "the body is empty")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return payErr(400, "PARAM_ERROR", "the body is not valid JSON for this API: %v", err)
	}
	return nil
}

// GET /sandbox/api/pay/merchant → what the platform needs to configure
// itself. Demo only: it hands out the merchant's private key.
func (s *Sandbox) handlePayMerchant(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	m := p.Merchant
	pub := publicPEM(&p.wxKey.PublicKey)
	spPub := publicPEM(&p.spKey.PublicKey)
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{
		"sp_mchid":                m.SpMchID,
		"sp_appid":                m.SpAppID,
		"cert_serial":             m.CertSerial,
		"private_key":             m.PrivateKey,
		"merchant_public_key":     spPub,
		"apiv3_key":               m.APIv3Key,
		"wechatpay_public_key_id": m.WxPublicID,
		"wechatpay_public_key":    pub,
	})
}

// POST /sandbox/api/pay/sub-merchants/{sub_mchid}/appids {"appid"}: the
// provider binds a mini program to the sub-merchant (特约商户 APPID 配置), as
// it does in the merchant platform. WeChat Pay then takes orders whose
// sub_appid is that appid.
func (s *Sandbox) handlePayBind(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var req struct {
		AppID string `json:"appid"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req) != nil || req.AppID == "" {
		writeJSON(w, http.StatusBadRequest, payErr(400, "PARAM_ERROR", "body must be {\"appid\"}"))
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.SubMerchants[r.PathValue("sub_mchid")]
	if m == nil {
		writeJSON(w, http.StatusNotFound, payErr(404, "MCH_NOT_EXISTS", "no sub-merchant %s", r.PathValue("sub_mchid")))
		return
	}
	if !m.bound(req.AppID) {
		m.AppIDs = append(m.AppIDs, req.AppID)
	}
	if err := s.savePayLocked(p); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// POST /sandbox/api/pay/sub-merchants/{sub_mchid}/refund-refusal {"code"}:
// from now on the sub-merchant's refunds are refused with code (NOT_ENOUGH,
// USER_ACCOUNT_ABNORMAL, FREQUENCY_LIMITED), or taken again for "".
func (s *Sandbox) handlePayRefundRefusal(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var req struct {
		Code *string `json:"code"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req) != nil || req.Code == nil ||
		(*req.Code != "" && refundRefusals[*req.Code] == nil) {
		writeJSON(w, http.StatusBadRequest, payErr(400, "PARAM_ERROR", `body must be {"code"} with "NOT_ENOUGH", "USER_ACCOUNT_ABNORMAL", "FREQUENCY_LIMITED" or ""`))
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.SubMerchants[r.PathValue("sub_mchid")]
	if m == nil {
		writeJSON(w, http.StatusNotFound, payErr(404, "MCH_NOT_EXISTS", "no sub-merchant %s", r.PathValue("sub_mchid")))
		return
	}
	m.RefundRefusal = *req.Code
	if err := s.savePayLocked(p); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// GET /sandbox/api/pay/sub-merchants → the sub-merchants with their appids.
func (s *Sandbox) handlePaySubMerchants(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	list := []*paySubMerchant{}
	for _, m := range p.SubMerchants {
		list = append(list, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}
