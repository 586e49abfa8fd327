package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// API paths of the code-management family (代小程序开发): the template library
// (component token) and, per authorizer, commit, audit, release and the
// settings a release depends on (authorizer token). docs/wechat-code.md has
// the wire formats.
const (
	pathDraftList         = "/wxa/gettemplatedraftlist"
	pathAddToTemplate     = "/wxa/addtotemplate"
	pathTemplateList      = "/wxa/gettemplatelist"
	pathDeleteTemplate    = "/wxa/deletetemplate"
	pathCommit            = "/wxa/commit"
	pathGetPage           = "/wxa/get_page"
	pathGetQRCode         = "/wxa/get_qrcode"
	pathGetCategory       = "/wxa/get_category"
	pathSubmitAudit       = "/wxa/submit_audit"
	pathAuditStatus       = "/wxa/get_auditstatus"
	pathLatestAuditStatus = "/wxa/get_latest_auditstatus"
	pathUndoAudit         = "/wxa/undocodeaudit"
	pathSpeedupAudit      = "/wxa/speedupaudit"
	pathQueryQuota        = "/wxa/queryquota"
	pathRelease           = "/wxa/release"
	pathRevertRelease     = "/wxa/revertcoderelease"
	pathGrayRelease       = "/wxa/grayrelease"
	pathRevertGrayRelease = "/wxa/revertgrayrelease"
	pathGrayReleasePlan   = "/wxa/getgrayreleaseplan"
	pathChangeVisitStatus = "/wxa/change_visitstatus"
	pathVersionInfo       = "/wxa/getversioninfo"
	pathModifyDomain      = "/wxa/modify_domain"
	pathWebviewDomain     = "/wxa/setwebviewdomain"
	pathBindTester        = "/wxa/bind_tester"
	pathUnbindTester      = "/wxa/unbind_tester"
	pathMemberAuth        = "/wxa/memberauth"
	pathSetPrivacy        = "/cgi-bin/component/setprivacysetting"
	pathGetPrivacy        = "/cgi-bin/component/getprivacysetting"
)

// Code-management errcodes a caller acts on.
const (
	CodeAuditInProgress   = 85009 // a version is already under audit
	CodeInvalidAuditID    = 85012
	CodeNoAuditedVersion  = 85019 // release: nothing approved to release
	CodeAuditNotReleasing = 85020 // release: the audit state does not allow it
	CodeAlreadyReleased   = 85052
	CodeTemplateNotFound  = 85064
	CodeTemplateLibFull   = 85065
	CodeAuditQuotaReached = 85085 // this month's submit_audit quota is used up
	CodeCommitFirst       = 85086 // submit_audit before any commit
	CodeCommitThrottled   = 85090
	CodeNoCommittedCode   = 86001
	CodeInGrayRelease     = 87011 // cannot roll back during a gray release
	CodeCannotRollBack    = 87012
	CodeUndoLimitReached  = 87013
	CodeTesterBound       = 85004 // bind_tester: already an experience member
	CodeSubmitForbidden   = 86007 // submit_audit: the mini program may not submit (suspended by WeChat)
	CodePrivacyNotSet     = 61040 // submit_audit: the code uses privacy APIs the privacy guide does not cover
)

// Gray release plan states (getgrayreleaseplan).
const (
	GrayRunning = 1
	GrayPaused  = 2
)

// Audit states of get_auditstatus and get_latest_auditstatus.
const (
	AuditApproved  = 0 // 审核成功
	AuditRejected  = 1 // 审核被拒绝
	AuditPending   = 2 // 审核中
	AuditWithdrawn = 3 // 已撤回
	AuditDelayed   = 4 // 审核延后
)

// Draft is a code upload from the developer tool waiting in the 草稿箱.
type Draft struct {
	DraftID     int64  `json:"draft_id"`
	UserVersion string `json:"user_version"`
	UserDesc    string `json:"user_desc"`
	CreateTime  int64  `json:"create_time"` // unix seconds
}

// Template is a code template (代码模板) every authorizer can be committed from.
type Template struct {
	TemplateID   int64  `json:"template_id"`
	DraftID      int64  `json:"draft_id"`
	UserVersion  string `json:"user_version"`
	UserDesc     string `json:"user_desc"`
	CreateTime   int64  `json:"create_time"` // unix seconds it became a template
	TemplateType int    `json:"template_type"`
	SourceAppID  string `json:"source_miniprogram_appid,omitempty"`
	Source       string `json:"source_miniprogram,omitempty"`
	Developer    string `json:"developer,omitempty"`
}

// Template types of addtotemplate and gettemplatelist.
const (
	TemplateNormal   = 0 // 普通模板
	TemplateStandard = 1 // 标准模板
)

// Drafts lists the template drafts (GET /wxa/gettemplatedraftlist).
func (c *Client) Drafts(ctx context.Context, ts TokenSource) ([]Draft, error) {
	var out struct {
		List []Draft `json:"draft_list"`
	}
	err := c.getJSON(ctx, ts, pathDraftList, nil, &out)
	return out.List, err
}

// AddToTemplate makes a draft a template (POST /wxa/addtotemplate). WeChat
// answers no id: list the templates to find it.
func (c *Client) AddToTemplate(ctx context.Context, ts TokenSource, draftID int64, templateType int) error {
	in := struct {
		DraftID      int64 `json:"draft_id"`
		TemplateType int   `json:"template_type"`
	}{draftID, templateType}
	return c.postJSON(ctx, ts, paramAccessToken, pathAddToTemplate, in, nil)
}

// Templates lists the template library (GET /wxa/gettemplatelist); a
// negative templateType lists every type.
func (c *Client) Templates(ctx context.Context, ts TokenSource, templateType int) ([]Template, error) {
	var q url.Values
	if templateType >= 0 {
		q = url.Values{"template_type": {strconv.Itoa(templateType)}}
	}
	var out struct {
		List []Template `json:"template_list"`
	}
	err := c.getJSON(ctx, ts, pathTemplateList, q, &out)
	return out.List, err
}

// DeleteTemplate removes a template (POST /wxa/deletetemplate).
func (c *Client) DeleteTemplate(ctx context.Context, ts TokenSource, templateID int64) error {
	in := struct {
		TemplateID int64 `json:"template_id"`
	}{templateID}
	return c.postJSON(ctx, ts, paramAccessToken, pathDeleteTemplate, in, nil)
}

// CommitRequest uploads a template's code to one authorizer as its 体验版.
type CommitRequest struct {
	TemplateID  int64  `json:"template_id"`
	ExtJSON     string `json:"ext_json"` // a JSON object encoded as a string, not an object
	UserVersion string `json:"user_version"`
	UserDesc    string `json:"user_desc"`
}

// Commit uploads code from a template (POST /wxa/commit). It is not sent
// again after it may have reached WeChat: a rollout counts one commit per
// app, and reconciles an unknown outcome by asking (VersionInfo).
func (c *Client) Commit(ctx context.Context, ts TokenSource, req CommitRequest) error {
	if !json.Valid([]byte(req.ExtJSON)) {
		return fmt.Errorf("wechat %s: ext_json is not valid JSON", pathCommit)
	}
	return c.postJSON(ctx, ts, paramAccessToken, pathCommit, req, nil)
}

// Pages lists the pages of the committed code (GET /wxa/get_page).
func (c *Client) Pages(ctx context.Context, ts TokenSource) ([]string, error) {
	var out struct {
		Pages []string `json:"page_list"`
	}
	err := c.getJSON(ctx, ts, pathGetPage, nil, &out)
	return out.Pages, err
}

// QRCode returns the 体验版 QR code image and its content type
// (GET /wxa/get_qrcode); path optionally opens a page ("pages/index/index?a=1").
func (c *Client) QRCode(ctx context.Context, ts TokenSource, path string) ([]byte, string, error) {
	var q url.Values
	if path != "" {
		q = url.Values{"path": {path}}
	}
	resp, err := c.call(ctx, &request{
		method: http.MethodGet, base: c.hosts.API, path: pathGetQRCode, query: q,
		ts: ts, tokenParam: paramAccessToken, resend: true, raw: true, // an image, or a JSON error
	})
	if err != nil {
		return nil, "", err
	}
	if err := resp.Err(); err != nil {
		return nil, "", err
	}
	if resp.Status != http.StatusOK {
		return nil, "", fmt.Errorf("wechat %s: %w %d", pathGetQRCode, ErrHTTPStatus, resp.Status)
	}
	return resp.Body, resp.ContentType, nil
}

// Category is one category the authorizer may submit under (get_category).
type Category struct {
	FirstClass  string `json:"first_class"`
	SecondClass string `json:"second_class"`
	ThirdClass  string `json:"third_class,omitempty"`
	FirstID     int    `json:"first_id"`
	SecondID    int    `json:"second_id"`
	ThirdID     int    `json:"third_id,omitempty"`
}

// Categories lists the authorizer's categories (GET /wxa/get_category).
func (c *Client) Categories(ctx context.Context, ts TokenSource) ([]Category, error) {
	var out struct {
		List []Category `json:"category_list"`
	}
	err := c.getJSON(ctx, ts, pathGetCategory, nil, &out)
	return out.List, err
}

// AuditItem describes one page for the reviewers (submit_audit item_list).
type AuditItem struct {
	Address     string `json:"address,omitempty"`
	Tag         string `json:"tag,omitempty"` // space-separated
	Title       string `json:"title,omitempty"`
	FirstClass  string `json:"first_class,omitempty"`
	SecondClass string `json:"second_class,omitempty"`
	ThirdClass  string `json:"third_class,omitempty"`
	FirstID     int    `json:"first_id,omitempty"`
	SecondID    int    `json:"second_id,omitempty"`
	ThirdID     int    `json:"third_id,omitempty"`
}

// SubmitAuditRequest submits the committed code for audit. Every field may
// be left empty.
type SubmitAuditRequest struct {
	ItemList         []AuditItem `json:"item_list,omitempty"`
	VersionDesc      string      `json:"version_desc,omitempty"`
	FeedbackInfo     string      `json:"feedback_info,omitempty"`
	FeedbackStuff    string      `json:"feedback_stuff,omitempty"` // |-separated media ids
	PrivacyAPINotUse bool        `json:"privacy_api_not_use,omitempty"`
	OrderPath        string      `json:"order_path,omitempty"`
}

// SubmitAudit submits the committed code for audit (POST /wxa/submit_audit)
// and returns the auditid. Never sent twice: a second submission fails 85009,
// and one that may have reached WeChat is reconciled with LatestAuditStatus.
func (c *Client) SubmitAudit(ctx context.Context, ts TokenSource, req SubmitAuditRequest) (int64, error) {
	var out struct {
		AuditID int64 `json:"auditid"`
	}
	if err := c.postJSON(ctx, ts, paramAccessToken, pathSubmitAudit, req, &out); err != nil {
		return 0, err
	}
	return out.AuditID, nil
}

// AuditStatus is the state of one submission.
type AuditStatus struct {
	AuditID     int64  `json:"auditid"`
	Status      int    `json:"status"`               // AuditApproved … AuditDelayed
	Reason      string `json:"reason,omitempty"`     // rejected: WeChat's words, may hold <br>
	ScreenShot  string `json:"screenshot,omitempty"` // rejected: |-separated media ids
	UserVersion string `json:"user_version,omitempty"`
	UserDesc    string `json:"user_desc,omitempty"`
	SubmitTime  int64  `json:"submit_audit_time,omitempty"` // unix seconds
}

// UnmarshalJSON accepts the screenshot under either spelling WeChat uses
// (get_latest_auditstatus capitalises it: ScreenShot).
func (a *AuditStatus) UnmarshalJSON(b []byte) error {
	type plain AuditStatus
	var v struct {
		plain
		ScreenShotCap string `json:"ScreenShot"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = AuditStatus(v.plain)
	if a.ScreenShot == "" {
		a.ScreenShot = v.ScreenShotCap
	}
	return nil
}

// AuditStatusOf asks for one submission's state (POST /wxa/get_auditstatus).
func (c *Client) AuditStatusOf(ctx context.Context, ts TokenSource, auditID int64) (*AuditStatus, error) {
	in := struct {
		AuditID int64 `json:"auditid"`
	}{auditID}
	var out AuditStatus
	if err := c.postJSON(ctx, ts, paramAccessToken, pathAuditStatus, in, &out); err != nil {
		return nil, err
	}
	if out.AuditID == 0 {
		out.AuditID = auditID
	}
	return &out, nil
}

// LatestAuditStatus asks for the latest submission's state
// (GET /wxa/get_latest_auditstatus).
func (c *Client) LatestAuditStatus(ctx context.Context, ts TokenSource) (*AuditStatus, error) {
	var out AuditStatus
	if err := c.getJSON(ctx, ts, pathLatestAuditStatus, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UndoAudit withdraws the submission under audit (GET /wxa/undocodeaudit);
// WeChat allows a few a day and ten a month (87013).
func (c *Client) UndoAudit(ctx context.Context, ts TokenSource) error {
	return c.getJSON(ctx, ts, pathUndoAudit, nil, nil)
}

// SpeedupAudit asks for an expedited audit (POST /wxa/speedupaudit).
func (c *Client) SpeedupAudit(ctx context.Context, ts TokenSource, auditID int64) error {
	in := struct {
		AuditID int64 `json:"auditid"`
	}{auditID}
	return c.postJSON(ctx, ts, paramAccessToken, pathSpeedupAudit, in, nil)
}

// Quota is the platform's audit quota for this month (queryquota).
type Quota struct {
	Rest         int `json:"rest"`
	Limit        int `json:"limit"`
	SpeedupRest  int `json:"speedup_rest"`
	SpeedupLimit int `json:"speedup_limit"`
}

// AuditQuota reads the monthly submit_audit quota (GET /wxa/queryquota). It
// takes an authorizer token but counts for the whole platform.
func (c *Client) AuditQuota(ctx context.Context, ts TokenSource) (*Quota, error) {
	var out Quota
	if err := c.getJSON(ctx, ts, pathQueryQuota, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Release publishes the approved version (POST /wxa/release with body {}).
func (c *Client) Release(ctx context.Context, ts TokenSource) error {
	return c.postJSON(ctx, ts, paramAccessToken, pathRelease, struct{}{}, nil)
}

// HistoryVersion is a released version the authorizer can roll back to.
type HistoryVersion struct {
	AppVersion  int64  `json:"app_version"`
	UserVersion string `json:"user_version"`
	UserDesc    string `json:"user_desc"`
	CommitTime  int64  `json:"commit_time"` // unix seconds
}

// RevertRelease rolls the online version back (GET /wxa/revertcoderelease):
// to the previous one when appVersion is 0, else to that version of
// ReleaseHistory.
func (c *Client) RevertRelease(ctx context.Context, ts TokenSource, appVersion int64) error {
	var q url.Values
	if appVersion != 0 {
		q = url.Values{"app_version": {strconv.FormatInt(appVersion, 10)}}
	}
	return c.getJSON(ctx, ts, pathRevertRelease, q, nil)
}

// ReleaseHistory lists the versions RevertRelease can go back to
// (GET /wxa/revertcoderelease?action=get_history_version).
func (c *Client) ReleaseHistory(ctx context.Context, ts TokenSource) ([]HistoryVersion, error) {
	var out struct {
		List []HistoryVersion `json:"version_list"`
	}
	err := c.getJSON(ctx, ts, pathRevertRelease, url.Values{"action": {"get_history_version"}}, &out)
	return out.List, err
}

// GrayReleaseRequest starts or widens a gray (phased) release.
type GrayReleaseRequest struct {
	GrayPercentage          int  `json:"gray_percentage"` // 0-100, only ever increasing
	SupportDebugerFirst     bool `json:"support_debuger_first,omitempty"`
	SupportExperiencerFirst bool `json:"support_experiencer_first,omitempty"`
}

// GrayRelease starts or widens a phased release (POST /wxa/grayrelease).
func (c *Client) GrayRelease(ctx context.Context, ts TokenSource, req GrayReleaseRequest) error {
	return c.postJSON(ctx, ts, paramAccessToken, pathGrayRelease, req, nil)
}

// RevertGrayRelease cancels a phased release (GET /wxa/revertgrayrelease).
func (c *Client) RevertGrayRelease(ctx context.Context, ts TokenSource) error {
	return c.getJSON(ctx, ts, pathRevertGrayRelease, nil, nil)
}

// GrayReleasePlan is the current phased release.
type GrayReleasePlan struct {
	Status                  int   `json:"status"` // 0 initial, 1 running, 2 paused, 3 finished, 4 deleted
	CreateTimestamp         int64 `json:"create_timestamp"`
	GrayPercentage          int   `json:"gray_percentage"`
	SupportExperiencerFirst bool  `json:"support_experiencer_first"`
	SupportDebugerFirst     bool  `json:"support_debuger_first"`
}

// GrayReleasePlanOf reads the phased release (GET /wxa/getgrayreleaseplan).
func (c *Client) GrayReleasePlanOf(ctx context.Context, ts TokenSource) (*GrayReleasePlan, error) {
	var out struct {
		Plan GrayReleasePlan `json:"gray_release_plan"`
	}
	if err := c.getJSON(ctx, ts, pathGrayReleasePlan, nil, &out); err != nil {
		return nil, err
	}
	return &out.Plan, nil
}

// ChangeVisitStatus opens or closes the mini program to its users
// (POST /wxa/change_visitstatus, action "open" or "close").
func (c *Client) ChangeVisitStatus(ctx context.Context, ts TokenSource, action string) error {
	in := struct {
		Action string `json:"action"`
	}{action}
	return c.postJSON(ctx, ts, paramAccessToken, pathChangeVisitStatus, in, nil)
}

// VersionInfo is the authorizer's 体验版 and online version (getversioninfo).
type VersionInfo struct {
	Exp *struct {
		Time    int64  `json:"exp_time"`
		Version string `json:"exp_version"`
		Desc    string `json:"exp_desc"`
	} `json:"exp_info,omitempty"`
	Release *struct {
		Time    int64  `json:"release_time"`
		Version string `json:"release_version"`
		Desc    string `json:"release_desc"`
	} `json:"release_info,omitempty"`
}

// Versions reads the 体验版 and the online version (POST /wxa/getversioninfo).
func (c *Client) Versions(ctx context.Context, ts TokenSource) (*VersionInfo, error) {
	var out VersionInfo
	if err := c.postJSON(ctx, ts, paramAccessToken, pathVersionInfo, struct{}{}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Domains are an authorizer's server domains (服务器域名).
type Domains struct {
	Request   []string `json:"requestdomain"`
	WSRequest []string `json:"wsrequestdomain"`
	Upload    []string `json:"uploaddomain"`
	Download  []string `json:"downloaddomain"`
	UDP       []string `json:"udpdomain,omitempty"`
	TCP       []string `json:"tcpdomain,omitempty"`
}

// ModifyDomain adds, deletes, sets or ("get", d ignored) reads the server
// domains (POST /wxa/modify_domain) and returns them as they now are.
func (c *Client) ModifyDomain(ctx context.Context, ts TokenSource, action string, d Domains) (*Domains, error) {
	var in any = struct {
		Action string `json:"action"`
		Domains
	}{action, d}
	if action == "get" {
		in = struct {
			Action string `json:"action"`
		}{action}
	}
	var out Domains
	if err := c.postJSON(ctx, ts, paramAccessToken, pathModifyDomain, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WebviewDomains adds, deletes, sets or reads the business domains
// (业务域名, POST /wxa/setwebviewdomain).
func (c *Client) WebviewDomains(ctx context.Context, ts TokenSource, action string, domains []string) ([]string, error) {
	in := struct {
		Action  string   `json:"action"`
		Domains []string `json:"webviewdomain,omitempty"`
	}{action, domains}
	var out struct {
		Domains []string `json:"webviewdomain"`
	}
	err := c.postJSON(ctx, ts, paramAccessToken, pathWebviewDomain, in, &out)
	return out.Domains, err
}

// BindTester makes a WeChat user an experience member (体验者) and returns the
// userstr WeChat names them by (POST /wxa/bind_tester).
func (c *Client) BindTester(ctx context.Context, ts TokenSource, wechatID string) (string, error) {
	in := struct {
		WeChatID string `json:"wechatid"`
	}{wechatID}
	var out struct {
		UserStr string `json:"userstr"`
	}
	err := c.postJSON(ctx, ts, paramAccessToken, pathBindTester, in, &out)
	return out.UserStr, err
}

// UnbindTester removes an experience member by WeChat id or, when wechatID
// is empty, by userstr (POST /wxa/unbind_tester).
func (c *Client) UnbindTester(ctx context.Context, ts TokenSource, wechatID, userStr string) error {
	in := struct {
		WeChatID string `json:"wechatid,omitempty"`
		UserStr  string `json:"userstr,omitempty"`
	}{wechatID, userStr}
	return c.postJSON(ctx, ts, paramAccessToken, pathUnbindTester, in, nil)
}

// Testers lists the experience members' userstrs (POST /wxa/memberauth).
func (c *Client) Testers(ctx context.Context, ts TokenSource) ([]string, error) {
	in := struct {
		Action string `json:"action"`
	}{"get_experiencer"}
	var out struct {
		Members []struct {
			UserStr string `json:"userstr"`
		} `json:"members"`
	}
	if err := c.postJSON(ctx, ts, paramAccessToken, pathMemberAuth, in, &out); err != nil {
		return nil, err
	}
	users := make([]string, len(out.Members))
	for i, m := range out.Members {
		users[i] = m.UserStr
	}
	return users, nil
}

// PrivacySetting is the 用户隐私保护指引 of a mini program.
type PrivacySetting struct {
	PrivacyVer   int              `json:"privacy_ver,omitempty"` // 1 online version, 2 development version (default)
	OwnerSetting PrivacyOwner     `json:"owner_setting"`
	SettingList  []PrivacyElement `json:"setting_list"`
}

// PrivacyOwner is how users reach the developer and how they are told.
type PrivacyOwner struct {
	ContactEmail         string `json:"contact_email,omitempty"`
	ContactPhone         string `json:"contact_phone,omitempty"`
	ContactQQ            string `json:"contact_qq,omitempty"`
	ContactWeixin        string `json:"contact_weixin,omitempty"`
	ExtFileMediaID       string `json:"ext_file_media_id,omitempty"`
	NoticeMethod         string `json:"notice_method"`
	StoreExpireTimestamp string `json:"store_expire_timestamp,omitempty"`
}

// PrivacyElement says why one kind of user data is collected.
type PrivacyElement struct {
	PrivacyKey   string `json:"privacy_key"`
	PrivacyText  string `json:"privacy_text"`
	PrivacyLabel string `json:"privacy_label,omitempty"` // in answers only
}

// SetPrivacy sets the privacy guide (POST /cgi-bin/component/setprivacysetting,
// with the authorizer's token despite the path).
func (c *Client) SetPrivacy(ctx context.Context, ts TokenSource, s PrivacySetting) error {
	return c.postJSON(ctx, ts, paramAccessToken, pathSetPrivacy, s, nil)
}

// PrivacyInfo is getprivacysetting's answer.
type PrivacyInfo struct {
	CodeExist    int              `json:"code_exist"`
	PrivacyList  []string         `json:"privacy_list"` // privacy keys the code uses
	SettingList  []PrivacyElement `json:"setting_list"`
	UpdateTime   int64            `json:"update_time"`
	OwnerSetting PrivacyOwner     `json:"owner_setting"`
}

// Privacy reads the privacy guide of version privacyVer
// (POST /cgi-bin/component/getprivacysetting).
func (c *Client) Privacy(ctx context.Context, ts TokenSource, privacyVer int) (*PrivacyInfo, error) {
	in := struct {
		PrivacyVer int `json:"privacy_ver"`
	}{privacyVer}
	var out PrivacyInfo
	if err := c.postJSON(ctx, ts, paramAccessToken, pathGetPrivacy, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// getJSON GETs path from the API host and decodes the answer into out. Only
// the calls in codeReads are sent again after they may have reached WeChat.
func (c *Client) getJSON(ctx context.Context, ts TokenSource, path string, query url.Values, out any) error {
	resp, err := c.call(ctx, &request{
		method: http.MethodGet, base: c.hosts.API, path: path, query: query,
		ts: ts, tokenParam: paramAccessToken, resend: codeReads[path],
	})
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.NewDecoder(bytes.NewReader(resp.Body)).Decode(out); err != nil {
			return fmt.Errorf("wechat %s: decode response: %w", path, err)
		}
	}
	return nil
}

// codeReads are the code-management calls that change nothing, so a network
// failure after they may have reached WeChat is retried. Commit, submit_audit,
// release, rollback and the rest act: they are never resent blindly.
var codeReads = map[string]bool{
	pathDraftList: true, pathTemplateList: true, pathGetPage: true, pathGetCategory: true,
	pathAuditStatus: true, pathLatestAuditStatus: true, pathQueryQuota: true,
	pathGrayReleasePlan: true, pathVersionInfo: true, pathMemberAuth: true, pathGetPrivacy: true,
	// The subscribe-template library reads (subscribe.go).
	pathSubCategory: true, pathSubTitles: true, pathSubKeywords: true, pathSubList: true,
}
