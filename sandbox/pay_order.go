package sandbox

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// Partner JSAPI orders (服务商 JSAPI 下单) and the payment notification
// (支付通知), docs/wechat-pay.md.

const prepayTTL = 2 * time.Hour // a prepay_id, on the sandbox clock

// payRetrySchedule is the wait before each re-send of an unacknowledged
// notification, on the sandbox clock (docs/wechat-pay.md: from memory of
// WeChat's documentation, unverified).
var payRetrySchedule = []time.Duration{
	15 * time.Second, 15 * time.Second, 30 * time.Second, 3 * time.Minute, 10 * time.Minute, 20 * time.Minute,
	30 * time.Minute, 30 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 3 * time.Hour, 3 * time.Hour,
	6 * time.Hour, 6 * time.Hour,
}

// outTradeNoPattern: 6 to 32 of digits, letters, _-|* (WeChat Pay's rule).
var outTradeNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{6,32}$`)

// payOrder is an order WeChat Pay took.
type payOrder struct {
	SpAppID       string    `json:"sp_appid"`
	SpMchID       string    `json:"sp_mchid"`
	SubAppID      string    `json:"sub_appid,omitempty"`
	SubMchID      string    `json:"sub_mchid"`
	Description   string    `json:"description"`
	OutTradeNo    string    `json:"out_trade_no"`
	NotifyURL     string    `json:"notify_url"`
	Attach        string    `json:"attach,omitempty"`
	Total         int64     `json:"total"`
	Currency      string    `json:"currency"`
	SpOpenID      string    `json:"sp_openid,omitempty"`
	SubOpenID     string    `json:"sub_openid,omitempty"`
	PrepayID      string    `json:"prepay_id"`
	State         string    `json:"trade_state"` // NOTPAY, SUCCESS, CLOSED
	TransactionID string    `json:"transaction_id,omitempty"`
	SuccessTime   time.Time `json:"success_time,omitzero"`
	CreatedAt     time.Time `json:"created_at"`         // sandbox clock
	Refunded      int64     `json:"refunded,omitempty"` // fen refunded or being refunded
}

// same tells whether a repeated order carries the same parameters.
func (o *payOrder) same(n *payOrder) bool {
	return o.SpAppID == n.SpAppID && o.SubAppID == n.SubAppID && o.Description == n.Description &&
		o.NotifyURL == n.NotifyURL && o.Attach == n.Attach && o.Total == n.Total && o.Currency == n.Currency &&
		o.SpOpenID == n.SpOpenID && o.SubOpenID == n.SubOpenID
}

// transaction is the partner transaction as queries and notifications show it.
func (o *payOrder) transaction() map[string]any {
	t := map[string]any{
		"sp_appid": o.SpAppID, "sp_mchid": o.SpMchID, "sub_mchid": o.SubMchID, "out_trade_no": o.OutTradeNo,
		"trade_type": "JSAPI", "trade_state": o.State, "trade_state_desc": tradeStateDesc[o.State],
		"amount": map[string]any{"total": o.Total, "currency": o.Currency},
		"payer":  map[string]any{},
	}
	if o.SubAppID != "" {
		t["sub_appid"] = o.SubAppID
	}
	if o.Attach != "" {
		t["attach"] = o.Attach
	}
	payer := t["payer"].(map[string]any)
	if o.SpOpenID != "" {
		payer["sp_openid"] = o.SpOpenID
	}
	if o.SubOpenID != "" {
		payer["sub_openid"] = o.SubOpenID
	}
	if o.State == "SUCCESS" && o.Refunded > 0 {
		t["trade_state"], t["trade_state_desc"] = "REFUND", tradeStateDesc["REFUND"]
	}
	if o.State == "SUCCESS" {
		t["transaction_id"] = o.TransactionID
		t["bank_type"] = "OTHERS"
		t["success_time"] = o.SuccessTime.In(chinaTime).Format(time.RFC3339)
		t["amount"] = map[string]any{"total": o.Total, "payer_total": o.Total, "currency": o.Currency, "payer_currency": o.Currency}
	}
	return t
}

var tradeStateDesc = map[string]string{"NOTPAY": "未支付", "SUCCESS": "支付成功", "CLOSED": "已关闭", "REFUND": "转入退款"}

var chinaTime = time.FixedZone("CST", 8*3600)

func orderKey(subMchID, outTradeNo string) string { return subMchID + " " + outTradeNo }

// POST /v3/pay/partner/transactions/jsapi → {"prepay_id"}
func (s *Sandbox) payJSAPI(r *http.Request, p *payState, body []byte) (any, error) {
	var req struct {
		SpAppID     *string `json:"sp_appid"`
		SpMchID     *string `json:"sp_mchid"`
		SubAppID    *string `json:"sub_appid"`
		SubMchID    *string `json:"sub_mchid"`
		Description *string `json:"description"`
		OutTradeNo  *string `json:"out_trade_no"`
		NotifyURL   *string `json:"notify_url"`
		Attach      string  `json:"attach"`
		Amount      *struct {
			Total    *int64 `json:"total"`
			Currency string `json:"currency"`
		} `json:"amount"`
		Payer *struct {
			SpOpenID  string `json:"sp_openid"`
			SubOpenID string `json:"sub_openid"`
		} `json:"payer"`
	}
	if err := decodePay(body, &req); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"sp_appid", req.SpAppID}, {"sp_mchid", req.SpMchID}, {"sub_mchid", req.SubMchID}, {"description", req.Description},
		{"out_trade_no", req.OutTradeNo}, {"notify_url", req.NotifyURL}} {
		if f.v == nil || *f.v == "" {
			return nil, payErr(400, "PARAM_ERROR", "输入源“/body/%s”映射到字段“%s”必填性规则校验失败，此字段为必填项", f.name, f.name)
		}
	}
	if req.Amount == nil || req.Amount.Total == nil {
		return nil, payErr(400, "PARAM_ERROR", "输入源“/body/amount/total”映射到字段“总金额”必填性规则校验失败，此字段为必填项")
	}
	if req.Payer == nil {
		return nil, payErr(400, "PARAM_ERROR", "输入源“/body/payer”映射到字段“支付者”必填性规则校验失败，此字段为必填项")
	}
	if (req.Payer.SpOpenID == "") == (req.Payer.SubOpenID == "") {
		return nil, payErr(400, "PARAM_ERROR", "payer: exactly one of sp_openid and sub_openid is required")
	}
	subAppID := ""
	if req.SubAppID != nil {
		subAppID = *req.SubAppID
	}
	if req.Payer.SubOpenID != "" && subAppID == "" {
		return nil, payErr(400, "PARAM_ERROR", "sub_appid is required with payer.sub_openid")
	}
	if *req.Amount.Total <= 0 {
		return nil, payErr(400, "PARAM_ERROR", "amount.total must be a positive number of fen")
	}
	currency := req.Amount.Currency
	if currency == "" {
		currency = "CNY"
	}
	if currency != "CNY" {
		return nil, payErr(400, "PARAM_ERROR", "amount.currency must be CNY")
	}
	if utf8.RuneCountInString(*req.Description) > 127 {
		return nil, payErr(400, "PARAM_ERROR", "description is longer than 127 characters")
	}
	if !outTradeNoPattern.MatchString(*req.OutTradeNo) {
		return nil, payErr(400, "PARAM_ERROR", "out_trade_no must be 6 to 32 digits, letters or _-|*")
	}
	if u, err := url.Parse(*req.NotifyURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		return nil, payErr(400, "PARAM_ERROR", "notify_url must be an absolute URL without a query string")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if *req.SpMchID != p.Merchant.SpMchID || *req.SpAppID != p.Merchant.SpAppID {
		return nil, payErr(400, "APPID_MCHID_NOT_MATCH", "sp_appid and sp_mchid do not match")
	}
	sub := p.SubMerchants[*req.SubMchID]
	if sub == nil {
		return nil, payErr(400, "MCH_NOT_EXISTS", "特约商户号不存在（sub_mchid %s does not exist）", *req.SubMchID)
	}
	if subAppID != "" && !sub.bound(subAppID) {
		return nil, payErr(403, "NO_AUTH", "sub_mchid %s 与 sub_appid %s 不匹配（the sub_appid is not bound to the sub-merchant）", *req.SubMchID, subAppID)
	}
	o := &payOrder{
		SpAppID: *req.SpAppID, SpMchID: *req.SpMchID, SubAppID: subAppID, SubMchID: *req.SubMchID,
		Description: *req.Description, OutTradeNo: *req.OutTradeNo, NotifyURL: *req.NotifyURL, Attach: req.Attach,
		Total: *req.Amount.Total, Currency: currency, SpOpenID: req.Payer.SpOpenID, SubOpenID: req.Payer.SubOpenID,
		State: "NOTPAY", CreatedAt: s.now(),
	}
	if old := p.Orders[orderKey(o.SubMchID, o.OutTradeNo)]; old != nil {
		switch {
		case old.State == "SUCCESS":
			return nil, payErr(400, "ORDERPAID", "该订单已支付（the order is already paid）")
		case old.State == "CLOSED":
			return nil, payErr(400, "ORDER_CLOSED", "该订单已关闭（the order is closed）")
		case !old.same(o):
			return nil, payErr(400, "INVALID_REQUEST", "201 商户订单号重复（out_trade_no was used with other parameters）")
		case s.now().Sub(old.CreatedAt) < prepayTTL:
			return map[string]string{"prepay_id": old.PrepayID}, nil
		}
		// The same order after its prepay_id expired: a new prepay_id.
	}
	o.PrepayID = fmt.Sprintf("wx%s%s", s.now().In(chinaTime).Format("20060102150405"), randomAlnum(18))
	p.Orders[orderKey(o.SubMchID, o.OutTradeNo)] = o
	if err := s.savePayLocked(p); err != nil {
		return nil, err
	}
	return map[string]string{"prepay_id": o.PrepayID}, nil
}

// GET /v3/pay/partner/transactions/out-trade-no/{no}?sp_mchid=&sub_mchid=
func (s *Sandbox) payQueryOrder(r *http.Request, p *payState, _ []byte) (any, error) {
	q := r.URL.Query()
	if q.Get("sp_mchid") == "" || q.Get("sub_mchid") == "" {
		return nil, payErr(400, "PARAM_ERROR", "sp_mchid and sub_mchid are required in the query")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if q.Get("sp_mchid") != p.Merchant.SpMchID {
		return nil, payErr(400, "MCH_NOT_EXISTS", "sp_mchid %s does not exist", q.Get("sp_mchid"))
	}
	o := p.Orders[orderKey(q.Get("sub_mchid"), r.PathValue("no"))]
	if o == nil {
		return nil, payErr(404, "ORDER_NOT_EXIST", "订单不存在（no such order）")
	}
	return o.transaction(), nil
}

// POST /v3/pay/partner/transactions/out-trade-no/{no}/close {"sp_mchid","sub_mchid"} → 204
func (s *Sandbox) payCloseOrder(r *http.Request, p *payState, body []byte) (any, error) {
	var req struct {
		SpMchID  string `json:"sp_mchid"`
		SubMchID string `json:"sub_mchid"`
	}
	if err := decodePay(body, &req); err != nil {
		return nil, err
	}
	if req.SpMchID == "" || req.SubMchID == "" {
		return nil, payErr(400, "PARAM_ERROR", "sp_mchid and sub_mchid are required")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.Orders[orderKey(req.SubMchID, r.PathValue("no"))]
	if o == nil || req.SpMchID != p.Merchant.SpMchID {
		return nil, payErr(404, "ORDER_NOT_EXIST", "订单不存在（no such order）")
	}
	if o.State == "SUCCESS" {
		return nil, payErr(400, "ORDERPAID", "该订单已支付（the order is already paid）")
	}
	o.State = "CLOSED"
	return nil, s.savePayLocked(p)
}

// payNotification is a notification WeChat Pay sends (and re-sends) until
// the platform acknowledges it with a 2xx.
type payNotification struct {
	ID         string       `json:"id"`
	OutTradeNo string       `json:"out_trade_no"`
	SubMchID   string       `json:"sub_mchid"`
	EventType  string       `json:"event_type"`
	URL        string       `json:"notify_url"`
	Body       string       `json:"body"`
	Acked      bool         `json:"acked"`
	NextAt     time.Time    `json:"next_at,omitzero"` // sandbox clock; zero when acked or given up
	Attempts   []payAttempt `json:"attempts"`
	sending    bool
}

type payAttempt struct {
	At     time.Time `json:"at"` // sandbox clock
	Status int       `json:"status"`
	Error  string    `json:"error,omitempty"`
}

// POST /sandbox/api/pay/orders/{out_trade_no}/pay {"sub_mchid","lose_notification"?}:
// the user pays in WeChat. The order becomes SUCCESS and TRANSACTION.SUCCESS
// goes to its notify_url (in the background; GET /sandbox/api/pay/notifications
// shows the attempts). lose_notification: the notification is made but
// never sent, as if every attempt was lost (resend still sends it); only a
// query tells the platform the order is paid.
func (s *Sandbox) handlePayOrderPaid(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var req struct {
		SubMchID         string `json:"sub_mchid"`
		LoseNotification bool   `json:"lose_notification"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req) != nil || req.SubMchID == "" {
		writeJSON(w, http.StatusBadRequest, payErr(400, "PARAM_ERROR", "body must be {\"sub_mchid\"}"))
		return
	}
	p.mu.Lock()
	o := p.Orders[orderKey(req.SubMchID, r.PathValue("no"))]
	var perr *payError
	switch {
	case o == nil:
		perr = payErr(404, "ORDER_NOT_EXIST", "no such order")
	case o.State == "SUCCESS":
		perr = payErr(400, "ORDERPAID", "the order is already paid")
	case o.State == "CLOSED":
		perr = payErr(400, "ORDER_CLOSED", "the order is closed")
	case s.now().Sub(o.CreatedAt) >= prepayTTL:
		perr = payErr(400, "PREPAY_EXPIRED", "the prepay_id expired (2 h): the user cannot pay it")
	}
	if perr != nil {
		p.mu.Unlock()
		writeJSON(w, perr.status, perr)
		return
	}
	o.State = "SUCCESS"
	o.SuccessTime = s.now()
	o.TransactionID = fmt.Sprintf("42000%s%010d", s.now().In(chinaTime).Format("20060102"), p.nextIDLocked())
	n, err := s.newNotificationLocked(p, o)
	if err == nil {
		if req.LoseNotification {
			n.NextAt = time.Time{} // never due: given up without an attempt
		}
		err = s.savePayLocked(p)
	}
	p.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.wakePay()
	writeJSON(w, http.StatusOK, map[string]any{"transaction_id": o.TransactionID, "notification_id": n.ID, "trade_state": "SUCCESS"})
}

// newNotificationLocked seals the transaction into a notification due now.
func (s *Sandbox) newNotificationLocked(p *payState, o *payOrder) (*payNotification, error) {
	return s.sealNotificationLocked(p, o.NotifyURL, "TRANSACTION.SUCCESS", "支付成功", "transaction", o.transaction(), o.OutTradeNo, o.SubMchID)
}

// sealNotificationLocked makes a notification of event due now at url: the
// resource (plain) AES-256-GCM sealed with the APIv3 key, associated data
// its original type.
func (s *Sandbox) sealNotificationLocked(p *payState, url, event, summary, originalType string, resource map[string]any, outTradeNo, subMchID string) (*payNotification, error) {
	plain, _ := json.Marshal(resource)
	block, err := aes.NewCipher([]byte(p.Merchant.APIv3Key))
	if err != nil {
		return nil, err
	}
	gcm, _ := cipher.NewGCM(block)
	nonce := randomAlnum(12)
	ct := gcm.Seal(nil, []byte(nonce), plain, []byte(originalType))
	id := make([]byte, 16)
	rand.Read(id)
	env := map[string]any{
		"id":            fmt.Sprintf("%x-%x-%x-%x-%x", id[:4], id[4:6], id[6:8], id[8:10], id[10:]),
		"create_time":   s.now().In(chinaTime).Format(time.RFC3339),
		"resource_type": "encrypt-resource",
		"event_type":    event,
		"summary":       summary,
		"resource": map[string]string{
			"original_type": originalType, "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": base64.StdEncoding.EncodeToString(ct), "associated_data": originalType, "nonce": nonce,
		},
	}
	body, _ := json.Marshal(env)
	n := &payNotification{
		ID: env["id"].(string), OutTradeNo: outTradeNo, SubMchID: subMchID, EventType: event,
		URL: url, Body: string(body), NextAt: s.now(), Attempts: []payAttempt{},
	}
	p.Notifications = append(p.Notifications, n)
	return n, nil
}

func (s *Sandbox) wakePay() {
	select {
	case s.payS.wakeCh <- struct{}{}:
	default:
	}
}

// payNotifier sends the notifications that are due on the sandbox clock,
// until the sandbox closes. It looks every 100 ms (wall clock), so a clock
// moved forward sends the retries then due.
func (s *Sandbox) payNotifier(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.payS.wakeCh:
		}
		p := s.payS
		p.mu.Lock()
		var due []*payNotification
		if p.loaded {
			now := s.now()
			for _, n := range p.Notifications {
				if !n.Acked && !n.sending && !n.NextAt.IsZero() && !now.Before(n.NextAt) {
					n.sending = true
					due = append(due, n)
				}
			}
		}
		p.mu.Unlock()
		for _, n := range due {
			s.payDeliver(ctx, p, n, true)
		}
	}
}

// payDeliver sends n once and records the attempt; scheduled attempts
// advance the retry schedule, a resend from the control API does not.
func (s *Sandbox) payDeliver(ctx context.Context, p *payState, n *payNotification, scheduled bool) payAttempt {
	status, err := s.postNotification(ctx, p, n)
	p.mu.Lock()
	defer p.mu.Unlock()
	a := payAttempt{At: s.now(), Status: status}
	if err != nil {
		a.Error = err.Error()
	}
	n.Attempts = append(n.Attempts, a)
	if scheduled {
		n.sending = false
	}
	if status >= 200 && status < 300 {
		n.Acked, n.NextAt = true, time.Time{}
	} else if scheduled {
		retries := len(n.Attempts) - 1
		if retries < len(payRetrySchedule) {
			n.NextAt = s.now().Add(payRetrySchedule[retries])
		} else {
			n.NextAt = time.Time{} // given up, as WeChat Pay does after its last retry
		}
	}
	if err := s.savePayLocked(p); err != nil {
		s.log.Error("pay state", "err", err)
	}
	return a
}

func (s *Sandbox) postNotification(ctx context.Context, p *payState, n *payNotification) (int, error) {
	body := []byte(n.Body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	for k, v := range s.paySignHeaders(p, body) {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}

// POST /sandbox/api/pay/notifications/{id}/resend: send a notification once
// more now, acknowledged or not (WeChat Pay does re-send what it already
// delivered when an acknowledgement is lost). → the attempt.
func (s *Sandbox) handlePayResend(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	var n *payNotification
	for _, x := range p.Notifications {
		if x.ID == r.PathValue("id") {
			n = x
		}
	}
	p.mu.Unlock()
	if n == nil {
		writeJSON(w, http.StatusNotFound, payErr(404, "RESOURCE_NOT_EXISTS", "no such notification"))
		return
	}
	writeJSON(w, http.StatusOK, s.payDeliver(r.Context(), p, n, false))
}

// GET /sandbox/api/pay/notifications → every notification with its attempts.
func (s *Sandbox) handlePayNotifications(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	type view struct {
		ID         string       `json:"id"`
		OutTradeNo string       `json:"out_trade_no"`
		SubMchID   string       `json:"sub_mchid"`
		EventType  string       `json:"event_type"`
		URL        string       `json:"notify_url"`
		Acked      bool         `json:"acked"`
		NextAt     string       `json:"next_at,omitempty"`
		Attempts   []payAttempt `json:"attempts"`
	}
	list := []view{}
	for _, n := range p.Notifications {
		v := view{n.ID, n.OutTradeNo, n.SubMchID, n.EventType, n.URL, n.Acked, "", append([]payAttempt{}, n.Attempts...)}
		if !n.NextAt.IsZero() {
			v.NextAt = n.NextAt.Format(time.RFC3339)
		}
		list = append(list, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list})
}

// GET /sandbox/api/pay/orders → every order.
func (s *Sandbox) handlePayOrders(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	list := []*payOrder{}
	for _, o := range p.Orders {
		list = append(list, o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": list, "count": strconv.Itoa(len(list))})
}
