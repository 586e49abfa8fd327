package pay

import (
	"encoding/json"
	"strings"
	"testing"
)

func goodApplymentForm() ApplymentForm {
	return ApplymentForm{SubjectType: "SUBJECT_TYPE_INDIVIDUAL",
		ContactName: "张三", ContactIDNumber: "11010119900307001x", MobilePhone: "13900000000", ContactEmail: "shop@example.com",
		LicenseNumber: "92440300MA5EXAMPLE", MerchantName: "张三面馆", LegalPerson: "张三", LicenseCopy: "media-license",
		IDCardName: "张三", IDCardNumber: "110101199003070000", IDCardCopy: "media-front", IDCardNational: "media-back",
		MerchantShortname: "张三面馆", ServicePhone: "0755-00000000", MiniProgramAppID: "wx6ed11edf8b6f9016",
		SettlementID: "719", QualificationType: "餐饮",
		BankAccountType: "BANK_ACCOUNT_TYPE_PERSONAL", AccountBank: "工商银行", AccountName: "张三", AccountNumber: "6222000000000000", BankAddressCode: "110000"}
}

// The structured form: each bad input is named with its reason; a good one
// builds WeChat Pay's form with the paths the sandbox checks and encrypts
// (sandbox/pay_applyment.go) and the mini program as the sales scene.
func TestApplymentForm(t *testing.T) {
	for _, c := range []struct {
		edit  func(*ApplymentForm)
		field string
		says  string
	}{
		{func(f *ApplymentForm) { f.MerchantName = "" }, "merchant_name", "必填"},
		{func(f *ApplymentForm) { f.MobilePhone = "1390000000" }, "mobile_phone", "11"},
		{func(f *ApplymentForm) { f.ContactIDNumber = "11010119900307" }, "contact_id_number", "18"},
		{func(f *ApplymentForm) { f.IDCardNumber = "11010119900307000Y" }, "id_card_number", "18"},
		{func(f *ApplymentForm) { f.ContactEmail = "shop.example.com" }, "contact_email", "e-mail"},
		{func(f *ApplymentForm) { f.SubjectType = "SUBJECT_TYPE_MICRO" }, "subject_type", "enterprise"},
		{func(f *ApplymentForm) { f.BankAddressCode = "1100" }, "bank_address_code", "6"},
		{func(f *ApplymentForm) { f.BusinessCode = "biz-1" }, "business_code", "_"},
		{func(f *ApplymentForm) { f.MiniProgramAppID = "" }, "appid", "必填"},
	} {
		f := goodApplymentForm()
		c.edit(&f)
		errs := f.Validate()
		if len(errs) != 1 || !strings.Contains(errs[c.field], c.says) {
			t.Errorf("%s: errors %v, want one on it saying %q", c.field, errs, c.says)
		}
	}
	f := goodApplymentForm()
	for _, name := range ApplymentFormFields() { // the values a page reads back are the fields
		f.Set(name, " "+f.Values()[name]+" ")
	}
	f.Trim()
	if errs := f.Validate(); errs != nil {
		t.Fatalf("a good form (spaces trimmed): %v", errs)
	}
	b, _ := json.Marshal(f.Build("wxf_t1_1"))
	var got struct {
		BusinessCode string `json:"business_code"`
		ContactInfo  struct {
			ContactIDNumber string `json:"contact_id_number"`
		} `json:"contact_info"`
		SubjectInfo struct {
			IdentityInfo struct {
				IDDocType  string `json:"id_doc_type"`
				IDCardInfo struct {
					IDCardNumber string `json:"id_card_number"`
				} `json:"id_card_info"`
			} `json:"identity_info"`
		} `json:"subject_info"`
		BusinessInfo struct {
			SalesInfo struct {
				Scenes []string `json:"sales_scenes_type"`
				Mini   struct {
					SubAppID string `json:"mini_program_sub_appid"`
				} `json:"mini_program_info"`
			} `json:"sales_info"`
		} `json:"business_info"`
		Bank struct {
			AccountNumber string `json:"account_number"`
		} `json:"bank_account_info"`
	}
	json.Unmarshal(b, &got)
	if got.BusinessCode != "wxf_t1_1" || got.ContactInfo.ContactIDNumber != "11010119900307001X" ||
		got.SubjectInfo.IdentityInfo.IDDocType != "IDENTIFICATION_TYPE_IDCARD" || got.SubjectInfo.IdentityInfo.IDCardInfo.IDCardNumber != "110101199003070000" ||
		len(got.BusinessInfo.SalesInfo.Scenes) != 1 || got.BusinessInfo.SalesInfo.Scenes[0] != "SALES_SCENES_MINI_PROGRAM" ||
		got.BusinessInfo.SalesInfo.Mini.SubAppID != "wx6ed11edf8b6f9016" || got.Bank.AccountNumber != "6222000000000000" {
		t.Fatalf("built %s", b)
	}
	// Every path the sandbox encrypts is there, to be encrypted.
	var form map[string]any
	json.Unmarshal(b, &form)
	for _, p := range sensitivePaths {
		if strings.HasPrefix(strings.Join(p, "/"), "subject_info/identity_info/id_doc_info") {
			continue // another document type's
		}
		obj := form
		for _, k := range p[:len(p)-1] {
			obj, _ = obj[k].(map[string]any)
		}
		if v, _ := obj[p[len(p)-1]].(string); v == "" {
			t.Errorf("the built form lacks the sensitive %v", p)
		}
	}
	f.BusinessCode = "my_code_1"
	if c := f.Build("wxf_t1_1")["business_code"]; c != "my_code_1" {
		t.Errorf("business_code given: %v", c)
	}
}

// A stored form read back for a resubmission: the same fields, but none of
// the sensitive ones.
func TestApplymentFormOf(t *testing.T) {
	f := goodApplymentForm()
	f.BusinessCode = "wxf7_1"
	b, _ := json.Marshal(f.Build(""))
	back := ApplymentFormOf(b)
	want := f
	want.ContactName, want.ContactIDNumber, want.MobilePhone, want.ContactEmail = "", "", "", ""
	want.IDCardName, want.IDCardNumber, want.AccountName, want.AccountNumber = "", "", "", ""
	if back != want {
		t.Fatalf("read back %+v, want %+v", back, want)
	}
}
