package pay

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/wechatpay-apiv3/wechatpay-go/core/consts"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"

	"github.com/wxfleet/wxfleet"
)

// Sub-merchant onboarding (特约商户进件, docs/wechat-pay.md): the operator
// sends the form with its sensitive fields in the clear; wxfleet keeps it
// sealed, encrypts those fields with WeChat Pay's public key (RSA-OAEP) and
// submits it; the state is read back from WeChat Pay on request.
// wechatpay-go v0.2.21 has no onboarding service, so the calls go through
// its core client, signed like every other.

const (
	pathApplyment       = "/v3/applyment4sub/applyment/"
	pathApplymentByCode = "/v3/applyment4sub/applyment/business_code/"
)

// sensitivePaths are the form fields WeChat Pay wants encrypted.
var sensitivePaths = [][]string{
	{"contact_info", "contact_name"},
	{"contact_info", "contact_id_number"},
	{"contact_info", "mobile_phone"},
	{"contact_info", "contact_email"},
	{"subject_info", "identity_info", "id_card_info", "id_card_name"},
	{"subject_info", "identity_info", "id_card_info", "id_card_number"},
	{"subject_info", "identity_info", "id_doc_info", "id_doc_name"},
	{"subject_info", "identity_info", "id_doc_info", "id_doc_number"},
	{"bank_account_info", "account_name"},
	{"bank_account_info", "account_number"},
}

var businessCodePattern = regexp.MustCompile(`^[0-9A-Za-z_]{1,124}$`)

// ApplymentRequest is an application as the operator submits it.
type ApplymentRequest struct {
	ComponentAppID string
	AppID          string // the mini program the sub-merchant is for; optional
	TenantID       *int64
	Form           map[string]any // WeChat Pay's form, sensitive fields in the clear
}

// SubmitApplyment submits (or, after a rejection, resubmits under the same
// business_code) an application inside sc and returns it as stored. A
// merchant files it under its own tenant, whatever the request says.
func (s *Service) SubmitApplyment(ctx context.Context, sc wxfleet.Scope, req ApplymentRequest) (*wxfleet.PayApplyment, error) {
	code, _ := req.Form["business_code"].(string)
	if !businessCodePattern.MatchString(code) {
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "表单须有 business_code（字母、数字、下划线）/ the form needs a business_code (letters, digits, _)")
	}
	if err := s.applymentTenant(ctx, sc, &req); err != nil {
		return nil, err
	}
	bi, _ := req.Form["business_info"].(map[string]any)
	shortname, _ := bi["merchant_shortname"].(string)
	mc, err := s.client(ctx, req.ComponentAppID)
	if err != nil {
		return nil, err
	}
	old, err := s.Store.PayApplymentByCode(ctx, req.ComponentAppID, code)
	switch {
	case err == nil && !sc.All() && (old.TenantID == nil || *old.TenantID != sc.TenantID):
		// Another tenant's (or the staff's) number: taken, saying nothing of it.
		return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "业务申请编号 %s 已被使用，请换一个 / business_code %s is taken: choose another", code, code)
	case err == nil && old.State != wxfleet.ApplymentRejected && old.State != wxfleet.ApplymentEditing && old.State != wxfleet.ApplymentNotUploaded:
		return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "申请单 %s 状态为 %s，只有被驳回的申请单可以重新提交 / application %s is %s: only a rejected one can be submitted again", code, old.State, code, old.State)
	case err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND:
		return nil, err
	}
	if err == nil && req.TenantID == nil {
		req.TenantID = old.TenantID // a resubmission stays with its tenant
	}
	plain, err := json.Marshal(req.Form)
	if err != nil {
		return nil, wxfleet.WrapError(wxfleet.EINVALID, "表单无法编码 / the form cannot be encoded", err)
	}
	now := s.now()
	a := &wxfleet.PayApplyment{ComponentAppID: req.ComponentAppID, BusinessCode: code, AppID: req.AppID, TenantID: req.TenantID,
		Shortname: shortname, Form: plain, State: wxfleet.ApplymentNotUploaded, CreatedAt: now, UpdatedAt: now}
	// Stored before it is sent: a crash after WeChat Pay took it leaves a
	// row to refresh, not an application wxfleet forgot.
	if err := s.Store.SavePayApplyment(ctx, a); err != nil {
		return nil, err
	}
	enc, err := encryptSensitive(req.Form, mc)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(enc)
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	res, err := mc.client.Request(cctx, http.MethodPost, consts.WechatPayAPIServer+pathApplyment,
		http.Header{"Wechatpay-Serial": {mc.m.PublicKeyID}}, nil, body, consts.ApplicationJSON)
	if err != nil {
		return nil, apiError("进件申请", "the application", err)
	}
	defer res.Response.Body.Close()
	var out struct {
		ApplymentID int64 `json:"applyment_id"`
	}
	if err := json.NewDecoder(res.Response.Body).Decode(&out); err != nil {
		return nil, wxfleet.WrapError(wxfleet.EUNAVAILABLE, "微信支付的应答无法解析 / WeChat Pay's answer does not parse", err)
	}
	a.ApplymentID, a.State, a.StateMsg, a.AuditDetail, a.SignURL, a.SubMchID = out.ApplymentID, wxfleet.ApplymentAuditing, "审核中", nil, "", ""
	a.UpdatedAt = s.now()
	if err := s.Store.UpdatePayApplymentState(ctx, a); err != nil {
		return nil, err
	}
	s.logger().Info("pay: application submitted", "component_appid", req.ComponentAppID, "applyment", a)
	return a, nil
}

// applymentTenant fixes the tenant an application is filed under: a
// merchant's own, always; for the staff the one given or, when none, the
// tenant of the mini program it names. A merchant's mini program must be
// on its tenant; a staff's that is on a tenant must be on the one given.
// (An app unknown here stays allowed for the staff, as the appid is only
// the application's sales scene; the binding checks the app.)
func (s *Service) applymentTenant(ctx context.Context, sc wxfleet.Scope, req *ApplymentRequest) error {
	if !sc.All() {
		if sc.TenantID <= 0 || (req.TenantID != nil && *req.TenantID != sc.TenantID) {
			return wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个租户 / no such tenant")
		}
		t := sc.TenantID
		req.TenantID = &t
	}
	if req.AppID == "" {
		return nil
	}
	a, err := s.Store.Authorizer(ctx, req.ComponentAppID, req.AppID)
	switch {
	case err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND:
		return err
	case !sc.All() && (err != nil || a.TenantID != sc.TenantID):
		return wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个小程序 / no such mini program")
	case err != nil || a.TenantID == 0:
		return nil
	case req.TenantID == nil:
		t := a.TenantID
		req.TenantID = &t
	case *req.TenantID != a.TenantID:
		return wxfleet.Errorf(wxfleet.EINVALID, "小程序 %s 属于租户 %d，不是租户 %d / mini program %s is on tenant %d, not tenant %d",
			req.AppID, a.TenantID, *req.TenantID, req.AppID, a.TenantID, *req.TenantID)
	}
	return nil
}

// encryptSensitive returns a copy of the form with the sensitive fields
// encrypted with WeChat Pay's public key.
func encryptSensitive(form map[string]any, mc *merchantClient) (map[string]any, error) {
	var cp map[string]any
	b, _ := json.Marshal(form)
	json.Unmarshal(b, &cp)
	for _, path := range sensitivePaths {
		obj := cp
		for _, k := range path[:len(path)-1] {
			next, _ := obj[k].(map[string]any)
			if next == nil {
				obj = nil
				break
			}
			obj = next
		}
		if obj == nil {
			continue
		}
		last := path[len(path)-1]
		v, ok := obj[last].(string)
		if !ok || v == "" {
			continue
		}
		ct, err := utils.EncryptOAEPWithPublicKey(v, mc.pub)
		if err != nil {
			return nil, wxfleet.WrapError(wxfleet.EINTERNAL, "敏感字段加密失败 / encrypting a sensitive field failed", err)
		}
		obj[last] = ct
	}
	return cp, nil
}

// Applyment returns an application inside sc, first reading its state from
// WeChat Pay when it has one there; ENOTFOUND outside sc, before any call.
func (s *Service) Applyment(ctx context.Context, sc wxfleet.Scope, componentAppID string, id int64) (*wxfleet.PayApplyment, error) {
	a, err := s.Store.PayApplyment(ctx, sc, componentAppID, id)
	if err != nil || a.State == wxfleet.ApplymentNotUploaded {
		return a, err
	}
	mc, err := s.client(ctx, componentAppID)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	res, err := mc.client.Get(cctx, consts.WechatPayAPIServer+pathApplymentByCode+url.PathEscape(a.BusinessCode))
	if err != nil {
		return nil, apiError("申请单查询", "the application query", err)
	}
	defer res.Response.Body.Close()
	var out struct {
		ApplymentID int64                    `json:"applyment_id"`
		State       string                   `json:"applyment_state"`
		StateMsg    string                   `json:"applyment_state_msg"`
		SignURL     string                   `json:"sign_url"`
		SubMchID    string                   `json:"sub_mchid"`
		AuditDetail []wxfleet.PayAuditDetail `json:"audit_detail"`
	}
	if err := json.NewDecoder(res.Response.Body).Decode(&out); err != nil {
		return nil, wxfleet.WrapError(wxfleet.EUNAVAILABLE, "微信支付的应答无法解析 / WeChat Pay's answer does not parse", err)
	}
	if !strings.HasPrefix(out.State, "APPLYMENT_STATE_") {
		return nil, wxfleet.Errorf(wxfleet.EUNAVAILABLE, "微信支付返回了未知的申请单状态 %q / WeChat Pay answered an unknown state %q", out.State, out.State)
	}
	if out.State != a.State || out.SubMchID != a.SubMchID || out.SignURL != a.SignURL || len(out.AuditDetail) != len(a.AuditDetail) {
		a.ApplymentID, a.State, a.StateMsg, a.SignURL, a.SubMchID, a.AuditDetail = out.ApplymentID, out.State, out.StateMsg, out.SignURL, out.SubMchID, out.AuditDetail
		a.UpdatedAt = s.now()
		if err := s.Store.UpdatePayApplymentState(ctx, a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Bind records that a mini program's payments go to a sub-merchant (the
// same binding must be made at WeChat Pay, in the merchant platform).
func (s *Service) Bind(ctx context.Context, b *wxfleet.PaySubMerchant) error {
	if b.SubMchID == "" || b.AppID == "" {
		return wxfleet.Errorf(wxfleet.EINVALID, "需要 sub_mchid 与 appid / sub_mchid and appid are required")
	}
	for _, r := range b.SubMchID {
		if r < '0' || r > '9' {
			return wxfleet.Errorf(wxfleet.EINVALID, "sub_mchid 须为数字 / sub_mchid must be digits")
		}
	}
	b.CreatedAt = s.now()
	return s.Store.BindPaySubMerchant(ctx, b)
}
