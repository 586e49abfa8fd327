package pay

import (
	"encoding/json"
	"net/mail"
	"regexp"
	"strings"
)

// ApplymentForm is the onboarding form for the common cases — a 个体工商户
// or a 企业 with a business licence, its legal person's resident identity
// card, a mini program as its sales scene — field by field, as the console
// and the merchant portal ask for it. Build makes of it the same WeChat Pay
// form the JSON path takes (docs/wechat-pay.md, "Sub-merchant onboarding"),
// sensitive fields in the clear: SubmitApplyment encrypts them as it does
// any form's. Other cases (government bodies, other identity documents)
// go through the JSON path.
//
// Each field's name is the form input's, so an error names the input.
type ApplymentForm struct {
	BusinessCode string // 业务申请编号; "" → Build makes one
	SubjectType  string // SUBJECT_TYPE_INDIVIDUAL or SUBJECT_TYPE_ENTERPRISE

	// 超级管理员 (contact_info)
	ContactName, ContactIDNumber, MobilePhone, ContactEmail string

	// 主体资料 (subject_info.business_license_info)
	LicenseNumber, MerchantName, LegalPerson, LicenseCopy string
	// 经营者/法定代表人身份证 (subject_info.identity_info.id_card_info)
	IDCardName, IDCardNumber, IDCardCopy, IDCardNational string

	// 经营资料 (business_info): the mini program is the sales scene
	MerchantShortname, ServicePhone, MiniProgramAppID string

	// 结算规则 (settlement_info)
	SettlementID, QualificationType string

	// 结算银行账户 (bank_account_info)
	BankAccountType, AccountBank, AccountName, AccountNumber, BankAddressCode string
}

// ApplymentSubjectTypes are the subject types the form offers: those with a
// business licence. WeChat Pay's 小微 (SUBJECT_TYPE_MICRO) is not among them:
// the sandbox and docs/wechat-pay.md know of no such type, and it has no
// licence.
var ApplymentSubjectTypes = [][3]string{ // value, 中文, English
	{"SUBJECT_TYPE_INDIVIDUAL", "个体工商户", "individual business"},
	{"SUBJECT_TYPE_ENTERPRISE", "企业", "enterprise"},
}

// ApplymentBankAccountTypes are the settlement account types.
var ApplymentBankAccountTypes = [][3]string{
	{"BANK_ACCOUNT_TYPE_CORPORATE", "对公银行账户", "corporate account"},
	{"BANK_ACCOUNT_TYPE_PERSONAL", "经营者个人银行卡", "the operator's personal card"},
}

// FieldErrors are a form's errors by input name, each "中文 / English".
type FieldErrors map[string]string

var (
	mobilePattern   = regexp.MustCompile(`^1[0-9]{10}$`)
	idNumberPattern = regexp.MustCompile(`^[0-9]{17}[0-9Xx]$`)
	phonePattern    = regexp.MustCompile(`^[0-9][0-9-]{4,19}$`)
	digitsPattern   = regexp.MustCompile(`^[0-9]+$`)
	appIDPattern    = regexp.MustCompile(`^wx[0-9A-Za-z]{16}$`)
)

// Trim trims every field (a phone's pasted spaces are no error).
func (f *ApplymentForm) Trim() {
	for _, p := range f.fields() {
		*p.v = strings.TrimSpace(*p.v)
	}
}

type formField struct {
	name string
	v    *string
}

// fields are the form's inputs in the order the page shows them.
func (f *ApplymentForm) fields() []formField {
	return []formField{
		{"business_code", &f.BusinessCode}, {"subject_type", &f.SubjectType},
		{"contact_name", &f.ContactName}, {"contact_id_number", &f.ContactIDNumber}, {"mobile_phone", &f.MobilePhone}, {"contact_email", &f.ContactEmail},
		{"license_number", &f.LicenseNumber}, {"merchant_name", &f.MerchantName}, {"legal_person", &f.LegalPerson}, {"license_copy", &f.LicenseCopy},
		{"id_card_name", &f.IDCardName}, {"id_card_number", &f.IDCardNumber}, {"id_card_copy", &f.IDCardCopy}, {"id_card_national", &f.IDCardNational},
		{"merchant_shortname", &f.MerchantShortname}, {"service_phone", &f.ServicePhone}, {"appid", &f.MiniProgramAppID},
		{"settlement_id", &f.SettlementID}, {"qualification_type", &f.QualificationType},
		{"bank_account_type", &f.BankAccountType}, {"account_bank", &f.AccountBank}, {"account_name", &f.AccountName},
		{"account_number", &f.AccountNumber}, {"bank_address_code", &f.BankAddressCode},
	}
}

// ApplymentFormFields are the form's input names, for a handler reading
// them from a request.
func ApplymentFormFields() []string {
	var f ApplymentForm
	names := make([]string, 0, 24)
	for _, p := range f.fields() {
		names = append(names, p.name)
	}
	return names
}

// Set sets the field of an input name (Trim afterwards).
func (f *ApplymentForm) Set(name, v string) {
	for _, p := range f.fields() {
		if p.name == name {
			*p.v = v
		}
	}
}

// Values are the fields by input name, for a page showing the form again.
func (f *ApplymentForm) Values() map[string]string {
	m := map[string]string{}
	for _, p := range f.fields() {
		m[p.name] = *p.v
	}
	return m
}

// Validate checks the form on our side, before anything goes to WeChat
// Pay: every field but business_code is required; the mobile, the id
// numbers, the e-mail, the appid and the codes have their shapes.
func (f *ApplymentForm) Validate() FieldErrors {
	errs := FieldErrors{}
	for _, p := range f.fields() {
		if *p.v == "" && p.name != "business_code" {
			errs[p.name] = "必填 / required"
		}
	}
	check := func(name string, ok bool, msg string) {
		if _, bad := errs[name]; !bad && !ok {
			errs[name] = msg
		}
	}
	check("business_code", f.BusinessCode == "" || businessCodePattern.MatchString(f.BusinessCode), "只能是字母、数字、下划线 / letters, digits and _ only")
	check("subject_type", optionOf(ApplymentSubjectTypes, f.SubjectType), "请选择个体工商户或企业 / choose individual business or enterprise")
	check("mobile_phone", mobilePattern.MatchString(f.MobilePhone), "须为 11 位手机号 / must be an 11-digit mobile number")
	check("contact_id_number", idNumberPattern.MatchString(f.ContactIDNumber), "须为 18 位身份证号 / must be an 18-character resident id number")
	check("id_card_number", idNumberPattern.MatchString(f.IDCardNumber), "须为 18 位身份证号 / must be an 18-character resident id number")
	_, err := mail.ParseAddress(f.ContactEmail)
	check("contact_email", err == nil && strings.Contains(f.ContactEmail, "@") && !strings.ContainsAny(f.ContactEmail, "<> "),
		"邮箱格式不对 / not an e-mail address")
	check("service_phone", phonePattern.MatchString(f.ServicePhone), "须为电话号码（数字与 -）/ must be a phone number (digits and -)")
	check("appid", appIDPattern.MatchString(f.MiniProgramAppID), "须为小程序 appid（wx 加 16 位）/ must be a mini program appid (wx and 16 characters)")
	check("settlement_id", digitsPattern.MatchString(f.SettlementID), "须为数字 / must be digits")
	check("bank_account_type", optionOf(ApplymentBankAccountTypes, f.BankAccountType), "请选择账户类型 / choose the account type")
	check("account_number", digitsPattern.MatchString(f.AccountNumber), "须为数字 / must be digits")
	check("bank_address_code", digitsPattern.MatchString(f.BankAddressCode) && len(f.BankAddressCode) == 6, "须为 6 位地区编码 / must be a 6-digit area code")
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func optionOf(opts [][3]string, v string) bool {
	for _, o := range opts {
		if o[0] == v {
			return true
		}
	}
	return false
}

// Build returns WeChat Pay's form of a valid ApplymentForm (Validate first),
// sensitive fields in the clear; code is the business_code to use when the
// form has none.
func (f *ApplymentForm) Build(code string) map[string]any {
	if f.BusinessCode != "" {
		code = f.BusinessCode
	}
	return map[string]any{
		"business_code": code,
		"contact_info": map[string]any{"contact_name": f.ContactName, "contact_id_number": strings.ToUpper(f.ContactIDNumber),
			"mobile_phone": f.MobilePhone, "contact_email": f.ContactEmail},
		"subject_info": map[string]any{"subject_type": f.SubjectType,
			"business_license_info": map[string]any{"license_copy": f.LicenseCopy, "license_number": f.LicenseNumber,
				"merchant_name": f.MerchantName, "legal_person": f.LegalPerson},
			"identity_info": map[string]any{"id_doc_type": "IDENTIFICATION_TYPE_IDCARD", "id_card_info": map[string]any{
				"id_card_copy": f.IDCardCopy, "id_card_national": f.IDCardNational, "id_card_name": f.IDCardName,
				"id_card_number": strings.ToUpper(f.IDCardNumber)}}},
		// The merchant's own mini program is mini_program_sub_appid (the
		// provider's would be mini_program_appid; one of the two).
		"business_info": map[string]any{"merchant_shortname": f.MerchantShortname, "service_phone": f.ServicePhone,
			"sales_info": map[string]any{"sales_scenes_type": []string{"SALES_SCENES_MINI_PROGRAM"},
				"mini_program_info": map[string]any{"mini_program_sub_appid": f.MiniProgramAppID}}},
		"settlement_info": map[string]any{"settlement_id": f.SettlementID, "qualification_type": f.QualificationType},
		"bank_account_info": map[string]any{"bank_account_type": f.BankAccountType, "account_bank": f.AccountBank,
			"account_name": f.AccountName, "account_number": f.AccountNumber, "bank_address_code": f.BankAddressCode},
	}
}

// ApplymentFormOf reads a stored form back into the structured fields, for
// a rejected application to be fixed and submitted again. The sensitive
// fields are left empty, to be typed again: a page never shows them.
func ApplymentFormOf(form []byte) ApplymentForm {
	var v struct {
		BusinessCode string `json:"business_code"`
		SubjectInfo  struct {
			SubjectType string `json:"subject_type"`
			License     struct {
				LicenseCopy   string `json:"license_copy"`
				LicenseNumber string `json:"license_number"`
				MerchantName  string `json:"merchant_name"`
				LegalPerson   string `json:"legal_person"`
			} `json:"business_license_info"`
			Identity struct {
				IDCard struct {
					Copy     string `json:"id_card_copy"`
					National string `json:"id_card_national"`
				} `json:"id_card_info"`
			} `json:"identity_info"`
		} `json:"subject_info"`
		BusinessInfo struct {
			Shortname    string `json:"merchant_shortname"`
			ServicePhone string `json:"service_phone"`
			SalesInfo    struct {
				Mini struct {
					SubAppID string `json:"mini_program_sub_appid"`
				} `json:"mini_program_info"`
			} `json:"sales_info"`
		} `json:"business_info"`
		Settlement struct {
			ID                string `json:"settlement_id"`
			QualificationType string `json:"qualification_type"`
		} `json:"settlement_info"`
		Bank struct {
			Type            string `json:"bank_account_type"`
			AccountBank     string `json:"account_bank"`
			BankAddressCode string `json:"bank_address_code"`
		} `json:"bank_account_info"`
	}
	json.Unmarshal(form, &v) // a form that is not this shape leaves the fields empty
	si, bi := v.SubjectInfo, v.BusinessInfo
	return ApplymentForm{BusinessCode: v.BusinessCode, SubjectType: si.SubjectType,
		LicenseNumber: si.License.LicenseNumber, MerchantName: si.License.MerchantName, LegalPerson: si.License.LegalPerson,
		LicenseCopy: si.License.LicenseCopy, IDCardCopy: si.Identity.IDCard.Copy, IDCardNational: si.Identity.IDCard.National,
		MerchantShortname: bi.Shortname, ServicePhone: bi.ServicePhone, MiniProgramAppID: bi.SalesInfo.Mini.SubAppID,
		SettlementID: v.Settlement.ID, QualificationType: v.Settlement.QualificationType,
		BankAccountType: v.Bank.Type, AccountBank: v.Bank.AccountBank, BankAddressCode: v.Bank.BankAddressCode}
}
