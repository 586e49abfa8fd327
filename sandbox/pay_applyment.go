package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Sub-merchant onboarding (特约商户进件, /v3/applyment4sub/applyment/),
// docs/wechat-pay.md. The provider submits a form per 业务申请编号
// (business_code); WeChat Pay audits it and it moves through the states
// below; a rejected form may be submitted again with the same business_code,
// which replaces it. Here a person (a test) decides each form with POST
// /sandbox/api/pay/applyments/{business_code}/decide.

// Applyment states (applyment_state).
const (
	applyAuditing    = "APPLYMENT_STATE_AUDITING"
	applyRejected    = "APPLYMENT_STATE_REJECTED"
	applyToConfirm   = "APPLYMENT_STATE_TO_BE_CONFIRMED"
	applyToSign      = "APPLYMENT_STATE_TO_BE_SIGNED"
	applySigning     = "APPLYMENT_STATE_SIGNING"
	applyFinished    = "APPLYMENT_STATE_FINISHED"
	applyCanceled    = "APPLYMENT_STATE_CANCELED"
	applyStateUnused = "APPLYMENT_STATE_EDITTING" // only after a failed submission; never produced here
)

var applyStateMsg = map[string]string{
	applyAuditing: "审核中", applyRejected: "已驳回", applyToConfirm: "待账户验证", applyToSign: "待签约",
	applySigning: "开通权限中", applyFinished: "已完成", applyCanceled: "已作废", applyStateUnused: "编辑中",
}

var businessCodePattern = regexp.MustCompile(`^[0-9A-Za-z_]{1,124}$`)

// payApplyment is a submitted form.
type payApplyment struct {
	BusinessCode string            `json:"business_code"`
	ApplymentID  int64             `json:"applyment_id"`
	State        string            `json:"applyment_state"`
	Shortname    string            `json:"merchant_shortname"`
	SubMchID     string            `json:"sub_mchid,omitempty"`
	AuditDetail  []payAuditDetail  `json:"audit_detail,omitempty"`
	Form         json.RawMessage   `json:"form"`
	Submissions  int               `json:"submissions"`
	Plain        map[string]string `json:"-"` // the decrypted sensitive fields of the last submission (not kept)
	SubmittedAt  time.Time         `json:"submitted_at"`
}

type payAuditDetail struct {
	Field        string `json:"field"`
	FieldName    string `json:"field_name"`
	RejectReason string `json:"reject_reason"`
}

// applyForm is the part of the form the sandbox checks.
type applyForm struct {
	BusinessCode *string `json:"business_code"`
	ContactInfo  *struct {
		ContactName     string `json:"contact_name"`
		ContactIDNumber string `json:"contact_id_number"`
		MobilePhone     string `json:"mobile_phone"`
		ContactEmail    string `json:"contact_email"`
	} `json:"contact_info"`
	SubjectInfo *struct {
		SubjectType         string `json:"subject_type"`
		BusinessLicenseInfo *struct {
			LicenseCopy   string `json:"license_copy"`
			LicenseNumber string `json:"license_number"`
			MerchantName  string `json:"merchant_name"`
			LegalPerson   string `json:"legal_person"`
		} `json:"business_license_info"`
		IdentityInfo *struct {
			IDDocType  string `json:"id_doc_type"`
			IDCardInfo *struct {
				IDCardCopy     string `json:"id_card_copy"`
				IDCardNational string `json:"id_card_national"`
				IDCardName     string `json:"id_card_name"`
				IDCardNumber   string `json:"id_card_number"`
			} `json:"id_card_info"`
		} `json:"identity_info"`
	} `json:"subject_info"`
	BusinessInfo *struct {
		MerchantShortname string `json:"merchant_shortname"`
		ServicePhone      string `json:"service_phone"`
		SalesInfo         *struct {
			SalesScenesType []string `json:"sales_scenes_type"`
		} `json:"sales_info"`
	} `json:"business_info"`
	SettlementInfo *struct {
		SettlementID      string `json:"settlement_id"`
		QualificationType string `json:"qualification_type"`
	} `json:"settlement_info"`
	BankAccountInfo *struct {
		BankAccountType string `json:"bank_account_type"`
		AccountName     string `json:"account_name"`
		AccountBank     string `json:"account_bank"`
		BankAddressCode string `json:"bank_address_code"`
		AccountNumber   string `json:"account_number"`
	} `json:"bank_account_info"`
}

var subjectTypes = []string{"SUBJECT_TYPE_INDIVIDUAL", "SUBJECT_TYPE_ENTERPRISE", "SUBJECT_TYPE_GOVERNMENT", "SUBJECT_TYPE_INSTITUTIONS", "SUBJECT_TYPE_OTHERS"}

func missing(path string) error {
	return payErr(400, "PARAM_ERROR", "输入源“/body/%s”必填性规则校验失败，此字段为必填项（%s is required）", path, path)
}

// check validates the form and decrypts its sensitive fields with WeChat
// Pay's private key; the first failure is WeChat Pay's error.
func (f *applyForm) check(key *rsa.PrivateKey) (map[string]string, error) {
	if f.BusinessCode == nil || *f.BusinessCode == "" {
		return nil, missing("business_code")
	}
	if !businessCodePattern.MatchString(*f.BusinessCode) {
		return nil, payErr(400, "PARAM_ERROR", "business_code must be digits, letters or _")
	}
	type field struct {
		path      string
		v         string
		sensitive bool
	}
	var fields []field
	if f.ContactInfo == nil {
		return nil, missing("contact_info")
	}
	c := f.ContactInfo
	fields = append(fields, field{"contact_info/contact_name", c.ContactName, true}, field{"contact_info/mobile_phone", c.MobilePhone, true},
		field{"contact_info/contact_email", c.ContactEmail, true})
	if c.ContactIDNumber != "" {
		fields = append(fields, field{"contact_info/contact_id_number", c.ContactIDNumber, true})
	}
	if f.SubjectInfo == nil {
		return nil, missing("subject_info")
	}
	si := f.SubjectInfo
	if si.SubjectType == "" {
		return nil, missing("subject_info/subject_type")
	}
	if !slices.Contains(subjectTypes, si.SubjectType) {
		return nil, payErr(400, "PARAM_ERROR", "subject_info/subject_type %q is not a subject type", si.SubjectType)
	}
	if si.SubjectType == "SUBJECT_TYPE_INDIVIDUAL" || si.SubjectType == "SUBJECT_TYPE_ENTERPRISE" {
		if si.BusinessLicenseInfo == nil {
			return nil, missing("subject_info/business_license_info")
		}
		b := si.BusinessLicenseInfo
		fields = append(fields, field{"subject_info/business_license_info/license_copy", b.LicenseCopy, false},
			field{"subject_info/business_license_info/license_number", b.LicenseNumber, false},
			field{"subject_info/business_license_info/merchant_name", b.MerchantName, false},
			field{"subject_info/business_license_info/legal_person", b.LegalPerson, false})
	}
	if si.IdentityInfo == nil {
		return nil, missing("subject_info/identity_info")
	}
	fields = append(fields, field{"subject_info/identity_info/id_doc_type", si.IdentityInfo.IDDocType, false})
	if si.IdentityInfo.IDDocType == "IDENTIFICATION_TYPE_IDCARD" {
		ic := si.IdentityInfo.IDCardInfo
		if ic == nil {
			return nil, missing("subject_info/identity_info/id_card_info")
		}
		fields = append(fields, field{"subject_info/identity_info/id_card_info/id_card_copy", ic.IDCardCopy, false},
			field{"subject_info/identity_info/id_card_info/id_card_national", ic.IDCardNational, false},
			field{"subject_info/identity_info/id_card_info/id_card_name", ic.IDCardName, true},
			field{"subject_info/identity_info/id_card_info/id_card_number", ic.IDCardNumber, true})
	}
	if f.BusinessInfo == nil {
		return nil, missing("business_info")
	}
	fields = append(fields, field{"business_info/merchant_shortname", f.BusinessInfo.MerchantShortname, false},
		field{"business_info/service_phone", f.BusinessInfo.ServicePhone, false})
	if f.BusinessInfo.SalesInfo == nil || len(f.BusinessInfo.SalesInfo.SalesScenesType) == 0 {
		return nil, missing("business_info/sales_info/sales_scenes_type")
	}
	if f.SettlementInfo == nil {
		return nil, missing("settlement_info")
	}
	fields = append(fields, field{"settlement_info/settlement_id", f.SettlementInfo.SettlementID, false},
		field{"settlement_info/qualification_type", f.SettlementInfo.QualificationType, false})
	if f.BankAccountInfo == nil {
		return nil, missing("bank_account_info")
	}
	ba := f.BankAccountInfo
	fields = append(fields, field{"bank_account_info/bank_account_type", ba.BankAccountType, false},
		field{"bank_account_info/account_name", ba.AccountName, true}, field{"bank_account_info/account_bank", ba.AccountBank, false},
		field{"bank_account_info/bank_address_code", ba.BankAddressCode, false}, field{"bank_account_info/account_number", ba.AccountNumber, true})
	plain := map[string]string{}
	for _, fl := range fields {
		if fl.v == "" {
			return nil, missing(fl.path)
		}
		if !fl.sensitive {
			continue
		}
		ct, err := base64.StdEncoding.DecodeString(fl.v)
		if err != nil {
			return nil, payErr(400, "PARAM_ERROR", "%s 解密失败（%s is not encrypted with the WeChat Pay public key (RSA-OAEP, base64)）", fl.path, fl.path)
		}
		p, err := rsa.DecryptOAEP(sha1.New(), rand.Reader, key, ct, nil)
		if err != nil || len(p) == 0 {
			return nil, payErr(400, "PARAM_ERROR", "%s 解密失败（%s does not decrypt with the WeChat Pay private key）", fl.path, fl.path)
		}
		plain[fl.path] = string(p)
	}
	return plain, nil
}

// POST /v3/applyment4sub/applyment/ (Wechatpay-Serial: the WeChat Pay public key id) → {"applyment_id"}
func (s *Sandbox) paySubmitApplyment(r *http.Request, p *payState, body []byte) (any, error) {
	var f applyForm
	if err := decodePay(body, &f); err != nil {
		return nil, err
	}
	m := p.merchantSnapshot()
	if serial := r.Header.Get("Wechatpay-Serial"); serial != m.WxPublicID {
		return nil, payErr(400, "PARAM_ERROR", "Wechatpay-Serial %q is not the WeChat Pay public key the sensitive fields must be encrypted with", serial)
	}
	plain, err := f.check(p.wxKey)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.Applyments[*f.BusinessCode]
	switch {
	case a == nil:
		a = &payApplyment{BusinessCode: *f.BusinessCode, ApplymentID: 2000002100000000 + p.nextIDLocked()}
		p.Applyments[a.BusinessCode] = a
	case a.State == applyRejected:
		// A rejected form is replaced by the new one, same business_code.
	default:
		return nil, payErr(400, "INVALID_REQUEST", "业务申请编号 %s 已存在（business_code is taken by an application that is %s）", a.BusinessCode, a.State)
	}
	a.State, a.AuditDetail, a.Form, a.Plain = applyAuditing, nil, json.RawMessage(body), plain
	a.Shortname = f.BusinessInfo.MerchantShortname
	a.Submissions++
	a.SubmittedAt = s.now()
	if err := s.savePayLocked(p); err != nil {
		return nil, err
	}
	return map[string]int64{"applyment_id": a.ApplymentID}, nil
}

// applymentView is the answer of the query API.
func (a *payApplyment) view() map[string]any {
	v := map[string]any{
		"business_code": a.BusinessCode, "applyment_id": a.ApplymentID, "applyment_state": a.State,
		"applyment_state_msg": applyStateMsg[a.State],
	}
	if a.State != applyFinished && a.State != applyCanceled {
		v["sign_url"] = "https://pay.weixin.qq.com/public/apply4ec_sign/s?applymentId=" + strconv.FormatInt(a.ApplymentID, 10)
	}
	if a.State == applyFinished {
		v["sub_mchid"] = a.SubMchID
	}
	if a.State == applyRejected {
		v["audit_detail"] = a.AuditDetail
	}
	return v
}

// GET /v3/applyment4sub/applyment/business_code/{business_code}
func (s *Sandbox) payQueryApplyment(r *http.Request, p *payState, _ []byte) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.Applyments[r.PathValue("code")]
	if a == nil {
		// WeChat Pay answers an unknown business_code with a 400, not a
		// 404 (docs/wechat-pay.md "Sub-merchant onboarding").
		return nil, payErr(400, "PARAM_ERROR", "未能找到申请单（no application with business_code %s）", r.PathValue("code"))
	}
	return a.view(), nil
}

// POST /sandbox/api/pay/applyments/{business_code}/decide
// {"result":"approve"|"reject"|"cancel","reason"?,"field"?,"field_name"?,"state"?}:
// WeChat Pay's audit. approve moves the form to "state" when given
// (TO_BE_CONFIRMED, TO_BE_SIGNED, SIGNING) and otherwise to FINISHED, which
// opens the sub-merchant; reject names the field and its reason.
func (s *Sandbox) handlePayDecide(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var req struct {
		Result    string `json:"result"`
		Reason    string `json:"reason"`
		Field     string `json:"field"`
		FieldName string `json:"field_name"`
		State     string `json:"state"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req) != nil {
		writeJSON(w, http.StatusBadRequest, payErr(400, "PARAM_ERROR", "malformed JSON"))
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.Applyments[r.PathValue("code")]
	if a == nil {
		writeJSON(w, http.StatusNotFound, payErr(404, "RESOURCE_NOT_EXISTS", "no such application"))
		return
	}
	if a.State == applyFinished || a.State == applyCanceled || a.State == applyRejected {
		writeJSON(w, http.StatusConflict, payErr(409, "INVALID_REQUEST", "the application is %s: nothing to decide", a.State))
		return
	}
	switch req.Result {
	case "approve":
		switch req.State {
		case "", "FINISHED", applyFinished:
			a.State = applyFinished
			a.SubMchID = strconv.FormatInt(1600000000+p.nextIDLocked(), 10)
			p.SubMerchants[a.SubMchID] = &paySubMerchant{SubMchID: a.SubMchID, Name: a.Shortname, AppIDs: []string{}}
		case "TO_BE_CONFIRMED", applyToConfirm:
			a.State = applyToConfirm
		case "TO_BE_SIGNED", applyToSign:
			a.State = applyToSign
		case "SIGNING", applySigning:
			a.State = applySigning
		default:
			writeJSON(w, http.StatusBadRequest, payErr(400, "PARAM_ERROR", "state %q is not one approve can move to", req.State))
			return
		}
	case "reject":
		if req.Reason == "" {
			writeJSON(w, http.StatusBadRequest, payErr(400, "PARAM_ERROR", "a rejection needs a reason"))
			return
		}
		field, name := req.Field, req.FieldName
		if field == "" {
			field, name = "id_card_copy", "身份证人像面照片"
		}
		a.State = applyRejected
		a.AuditDetail = []payAuditDetail{{Field: field, FieldName: name, RejectReason: req.Reason}}
	case "cancel":
		a.State = applyCanceled
	default:
		writeJSON(w, http.StatusBadRequest, payErr(400, "PARAM_ERROR", `result must be "approve", "reject" or "cancel"`))
		return
	}
	if err := s.savePayLocked(p); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, a.view())
}

// GET /sandbox/api/pay/applyments/{business_code} → {"business_code",
// "applyment_state","submissions","form","decrypted"}: the form as WeChat
// Pay received it (sensitive fields encrypted) and those fields as it
// decrypted them, for a test to check both. decrypted is not kept across a
// restart (nor is it anywhere else).
func (s *Sandbox) handlePayApplymentReceived(w http.ResponseWriter, r *http.Request) {
	p, err := s.pay()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.Applyments[r.PathValue("code")]
	if a == nil {
		writeJSON(w, http.StatusNotFound, payErr(404, "RESOURCE_NOT_EXISTS", "no such application"))
		return
	}
	plain := a.Plain
	if plain == nil {
		plain = map[string]string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"business_code": a.BusinessCode, "applyment_state": a.State,
		"submissions": a.Submissions, "form": a.Form, "decrypted": plain})
}

// String names an application in logs without its sensitive fields.
func (a *payApplyment) String() string {
	return fmt.Sprintf("applyment %s (%d) %s", a.BusinessCode, a.ApplymentID, a.State)
}
