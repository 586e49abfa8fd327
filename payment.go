package wxfleet

import (
	"encoding/json"
	"log/slog"
	"time"
)

// WeChat Pay (微信支付) in service-provider mode (服务商模式): the ISV's
// provider merchant, its sub-merchants (特约商户) and their onboarding
// (进件), the mini programs bound to them, orders and payment
// notifications. See docs/wechat-pay.md.

// PayMerchant is a platform's provider merchant (服务商商户号) and the keys
// it calls WeChat Pay with. PrivateKey and APIv3Key are sealed at rest.
type PayMerchant struct {
	ComponentAppID string
	SpMchID        string // sp_mchid
	SpAppID        string // the provider's own appid (sp_appid)
	CertSerial     string // serial of the merchant API certificate (商户API证书序列号)
	PrivateKey     Secret // PEM of the merchant API private key
	APIv3Key       Secret // 32 characters: decrypts notifications
	PublicKeyID    string // WeChat Pay public key id (微信支付公钥ID, PUB_KEY_ID_…)
	PublicKey      string // PEM of the WeChat Pay public key: verifies answers, encrypts form fields
	BaseURL        string // "" → https://api.mch.weixin.qq.com
	NotifyURL      string // the notify_url of orders: this platform's /pay/notify
	UpdatedAt      time.Time
}

// LogValue names the merchant without its keys.
func (m *PayMerchant) LogValue() slog.Value {
	return slog.GroupValue(slog.String("sp_mchid", m.SpMchID), slog.String("cert_serial", m.CertSerial),
		slog.String("public_key_id", m.PublicKeyID), slog.String("base_url", m.BaseURL))
}

// Applyment states (applyment_state) of a sub-merchant application.
const (
	ApplymentAuditing    = "APPLYMENT_STATE_AUDITING"
	ApplymentRejected    = "APPLYMENT_STATE_REJECTED"
	ApplymentToConfirm   = "APPLYMENT_STATE_TO_BE_CONFIRMED"
	ApplymentToBeSigned  = "APPLYMENT_STATE_TO_BE_SIGNED"
	ApplymentSigning     = "APPLYMENT_STATE_SIGNING"
	ApplymentFinished    = "APPLYMENT_STATE_FINISHED"
	ApplymentCanceled    = "APPLYMENT_STATE_CANCELED"
	ApplymentEditing     = "APPLYMENT_STATE_EDITTING" // WeChat's spelling
	ApplymentNotUploaded = ""                         // not yet accepted by WeChat Pay
)

// PayAuditDetail is one rejection reason of an application, as WeChat Pay sent it.
type PayAuditDetail struct {
	Field        string `json:"field"`
	FieldName    string `json:"field_name"`
	RejectReason string `json:"reject_reason"`
}

// PayApplyment is a sub-merchant application (特约商户进件申请单). Its form,
// with the sensitive fields in the clear as the operator gave them, is
// sealed at rest; WeChat Pay gets them encrypted with its public key.
type PayApplyment struct {
	ID             int64
	ComponentAppID string
	BusinessCode   string // 业务申请编号: ours, unique per platform
	AppID          string // the mini program the sub-merchant is for ("" if none yet)
	TenantID       *int64
	Shortname      string // business_info.merchant_shortname
	Form           json.RawMessage
	ApplymentID    int64 // WeChat Pay's 申请单号
	State          string
	StateMsg       string
	AuditDetail    []PayAuditDetail
	SignURL        string
	SubMchID       string // when finished
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// LogValue leaves the form out.
func (a *PayApplyment) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("id", a.ID), slog.String("business_code", a.BusinessCode), slog.String("state", a.State))
}

// PaySubMerchant binds a mini program to the sub-merchant that takes its payments.
type PaySubMerchant struct {
	ComponentAppID string
	AppID          string
	SubMchID       string
	TenantID       *int64
	CreatedAt      time.Time
}

// Order states (trade_state) wxfleet keeps.
const (
	OrderNotPaid = "NOTPAY"
	OrderPaid    = "SUCCESS"
	OrderClosed  = "CLOSED"
)

// PayOrder is a partner JSAPI order placed for a mini program's user.
type PayOrder struct {
	ComponentAppID string
	OutTradeNo     string
	SubMchID       string
	AppID          string // sub_appid
	OpenID         string // payer.sub_openid
	Description    string
	Amount         int64 // fen
	State          string
	PrepayID       string
	TransactionID  string
	CreatedAt      time.Time
	PaidAt         time.Time
}

// PayNotification is a payment notification as received, decrypted.
type PayNotification struct {
	ID             string // WeChat Pay's notification id
	ComponentAppID string
	EventType      string
	TransactionID  string
	OutTradeNo     string
	SubMchID       string
	TradeState     string
	Resource       json.RawMessage // the decrypted transaction
	ReceivedAt     time.Time
}

// Refund states (status / refund_status); RefundUnplaced is a refund stored
// but not yet accepted by WeChat Pay.
const (
	RefundUnplaced   = ""
	RefundProcessing = "PROCESSING"
	RefundSuccess    = "SUCCESS"
	RefundClosed     = "CLOSED"
	RefundAbnormal   = "ABNORMAL"
)

// PayRefund is a refund of (part of) a paid order.
type PayRefund struct {
	ComponentAppID string
	SubMchID       string
	OutRefundNo    string
	OutTradeNo     string
	AppID          string // the order's mini program
	Amount         int64  // fen
	Reason         string
	RefundID       string // WeChat Pay's refund_id
	Status         string
	CreatedAt      time.Time
	SucceededAt    time.Time
}
