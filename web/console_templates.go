package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// The template page (/templates/{id}): one template's fields and what the
// API's /api/v1/templates/{id} routes do with it, as forms with the same
// access and audit actions — edit the ext_json template and the notes
// (template.update), declare or clear the domain and privacy policy
// (template.policy), delete it (template.delete, confirmed first) — and the
// ext_json preview for one mini program. The forms call the same rollout
// service functions as the API, so what the console refuses the API
// refuses too.
func (s *Server) templatePages(mux *http.ServeMux) {
	s.page(mux, "GET /templates/{id}", StaffRead(), s.templatePage)
	s.pageCap(mux, "POST /templates/{id}/edit", StaffWrite("template.update"), formBodyCap*16, s.editTemplateForm)
	s.pageCap(mux, "POST /templates/{id}/policy", StaffWrite("template.policy"), formBodyCap*16, s.templatePolicyForm)
	s.page(mux, "POST /templates/{id}/delete", StaffWrite("template.delete"), s.deleteTemplateForm)
}

// templateEdit is the edit form as typed, kept when it is refused.
type templateEdit struct {
	ExtJSON, Notes string
	Err            string
}

// policyForm is the policy form: one part of the policy per checkbox (an
// unchecked part is not managed), the domain lists one per line, the
// privacy guide's owner_setting fields and its setting_list as
// "privacy_key: privacy_text" lines.
type policyForm struct {
	Domains                                              bool
	Request, WSRequest, Upload, Download, UDP, TCP       string
	Webview                                              bool
	WebviewDomain                                        string
	Privacy                                              bool
	ContactEmail, ContactPhone, ContactQQ, ContactWeixin string
	ExtFileMediaID, NoticeMethod, StoreExpireTimestamp   string
	SettingList                                          string
	Err                                                  string
}

func policyFormOf(p *wxfleet.TemplatePolicy) policyForm {
	var f policyForm
	if p == nil {
		return f
	}
	lines := func(l []string) string { return strings.Join(l, "\n") }
	if d := p.Domains; d != nil {
		f.Domains = true
		f.Request, f.WSRequest, f.Upload = lines(d.RequestDomain), lines(d.WSRequestDomain), lines(d.UploadDomain)
		f.Download, f.UDP, f.TCP = lines(d.DownloadDomain), lines(d.UDPDomain), lines(d.TCPDomain)
	}
	if w := p.WebviewDomain; w != nil {
		f.Webview, f.WebviewDomain = true, lines(*w)
	}
	if pp := p.Privacy; pp != nil {
		o := pp.OwnerSetting
		f.Privacy = true
		f.ContactEmail, f.ContactPhone, f.ContactQQ, f.ContactWeixin = o.ContactEmail, o.ContactPhone, o.ContactQQ, o.ContactWeixin
		f.ExtFileMediaID, f.NoticeMethod, f.StoreExpireTimestamp = o.ExtFileMediaID, o.NoticeMethod, o.StoreExpireTimestamp
		items := make([]string, 0, len(pp.SettingList))
		for _, e := range pp.SettingList {
			items = append(items, e.PrivacyKey+": "+e.PrivacyText)
		}
		f.SettingList = strings.Join(items, "\n")
	}
	return f
}

func postedPolicyForm(r *http.Request) policyForm {
	v := r.PostFormValue
	return policyForm{
		Domains: v("manage_domains") != "", Request: v("requestdomain"), WSRequest: v("wsrequestdomain"), Upload: v("uploaddomain"),
		Download: v("downloaddomain"), UDP: v("udpdomain"), TCP: v("tcpdomain"),
		Webview: v("manage_webviewdomain") != "", WebviewDomain: v("webviewdomain"),
		Privacy: v("manage_privacy") != "", ContactEmail: strings.TrimSpace(v("contact_email")), ContactPhone: strings.TrimSpace(v("contact_phone")),
		ContactQQ: strings.TrimSpace(v("contact_qq")), ContactWeixin: strings.TrimSpace(v("contact_weixin")),
		ExtFileMediaID: strings.TrimSpace(v("ext_file_media_id")), NoticeMethod: strings.TrimSpace(v("notice_method")),
		StoreExpireTimestamp: strings.TrimSpace(v("store_expire_timestamp")), SettingList: v("setting_list"),
	}
}

// domainLines reads a list typed one per line (commas and spaces also
// separate).
func domainLines(v string) []string {
	return strings.FieldsFunc(v, func(c rune) bool {
		return c == '\n' || c == '\r' || c == ',' || c == '，' || c == ' ' || c == '\t'
	})
}

// policy reads the form into the API's wxfleet.TemplatePolicy; only the
// shape is read here (the setting_list lines), the service checks the
// values (rollout.ValidatePolicy).
func (f policyForm) policy() (*wxfleet.TemplatePolicy, error) {
	p := &wxfleet.TemplatePolicy{}
	if f.Domains {
		p.Domains = &wxfleet.DomainPolicy{RequestDomain: domainLines(f.Request), WSRequestDomain: domainLines(f.WSRequest),
			UploadDomain: domainLines(f.Upload), DownloadDomain: domainLines(f.Download), UDPDomain: domainLines(f.UDP), TCPDomain: domainLines(f.TCP)}
	}
	if f.Webview {
		w := domainLines(f.WebviewDomain)
		if w == nil {
			w = []string{}
		}
		p.WebviewDomain = &w
	}
	if f.Privacy {
		pp := &wxfleet.PrivacyPolicy{OwnerSetting: wxfleet.PrivacyOwner{ContactEmail: f.ContactEmail, ContactPhone: f.ContactPhone,
			ContactQQ: f.ContactQQ, ContactWeixin: f.ContactWeixin, ExtFileMediaID: f.ExtFileMediaID, NoticeMethod: f.NoticeMethod,
			StoreExpireTimestamp: f.StoreExpireTimestamp}, SettingList: []wxfleet.PrivacyItem{}}
		for i, line := range strings.Split(f.SettingList, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			at := strings.IndexAny(line, ":：")
			if at < 0 {
				return nil, wxfleet.Errorf(wxfleet.EINVALID, "setting_list 第 %d 行须写成「privacy_key: 说明」/ setting_list line %d must read \"privacy_key: text\"", i+1, i+1)
			}
			_, size := utf8.DecodeRuneInString(line[at:])
			pp.SettingList = append(pp.SettingList, wxfleet.PrivacyItem{PrivacyKey: strings.TrimSpace(line[:at]), PrivacyText: strings.TrimSpace(line[at+size:])})
		}
		p.Privacy = pp
	}
	return p, nil
}

// templateView is the template page's data beyond the template itself.
type templateView struct {
	Edit          templateEdit
	Policy        policyForm
	PreviewAppID  string
	Preview       string
	PreviewErr    string
	DeleteConfirm bool
}

func (s *Server) templatePage(w http.ResponseWriter, r *http.Request) {
	s.renderTemplate(w, r, http.StatusOK, nil, nil)
}

// renderTemplate shows template {id}; a refused form (edit or policy) comes
// back with its input and the reason.
func (s *Server) renderTemplate(w http.ResponseWriter, r *http.Request, status int, edit *templateEdit, policy *policyForm) {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/templates")
		return
	}
	list := "/templates?platform=" + url.QueryEscape(comp)
	t, err := s.Store.Template(r.Context(), comp, id)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, list)
		return
	}
	v := templateView{Edit: templateEdit{ExtJSON: t.ExtJSON, Notes: t.Notes}, Policy: policyFormOf(t.Policy)}
	if edit != nil {
		v.Edit = *edit
	}
	if policy != nil {
		v.Policy = *policy
	}
	if appID := strings.TrimSpace(r.URL.Query().Get("appid")); appID != "" && r.Method == http.MethodGet {
		v.PreviewAppID = appID
		if ext, err := s.renderExtJSONFor(r.Context(), comp, t, appID); err != nil {
			v.PreviewErr = wxfleet.ErrorMessage(err)
		} else {
			v.Preview = indentJSON(ext)
		}
	}
	policyJSON := ""
	if !t.Policy.Empty() {
		b, _ := json.MarshalIndent(t.Policy, "", "  ")
		policyJSON = string(b)
	}
	running, err := s.runningRolloutsOf(r, comp, id)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, list)
		return
	}
	s.render(w, r, status, "template", map[string]any{
		"Title": fmt.Sprintf("模板 Template #%d", id), "Platform": comp, "T": toTemplateJSON(t), "V": v,
		"PolicyJSON": policyJSON, "Running": running, "Done": r.URL.Query().Get("done"),
		"Path": fmt.Sprintf("/templates/%d?platform=%s", id, url.QueryEscape(comp)),
	})
}

// runningRolloutsOf returns the rollouts of the template that are not
// final, among its latest 100.
func (s *Server) runningRolloutsOf(r *http.Request, comp string, id int64) ([]*wxfleet.Rollout, error) {
	list, err := s.Store.ListRollouts(r.Context(), comp, store.RolloutFilter{TemplateID: id, Limit: 100})
	if err != nil {
		return nil, err
	}
	var out []*wxfleet.Rollout
	for _, ro := range list {
		if ro.TemplateID == id && !ro.Status.Final() {
			out = append(out, ro)
		}
	}
	return out, nil
}

// indentJSON lays a JSON document out for reading; anything else stays.
func indentJSON(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return s
	}
	return string(b)
}

// templateBack is the template page's address with a status to show.
func templateBack(comp string, id int64, done string) string {
	return fmt.Sprintf("/templates/%d?platform=%s&done=%s", id, url.QueryEscape(comp), done)
}

// editTemplateForm sets the ext_json template and the notes (PUT
// /api/v1/templates/{id}).
func (s *Server) editTemplateForm(w http.ResponseWriter, r *http.Request) {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/templates")
		return
	}
	auditTarget(r, comp, "", strconv.FormatInt(id, 10))
	f := templateEdit{ExtJSON: r.PostFormValue("ext_json"), Notes: r.PostFormValue("notes")}
	if err := s.Rollouts.SetTemplateDetails(r.Context(), comp, id, f.ExtJSON, f.Notes); err != nil {
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			s.errorPage(w, r, "出错了 Error", err, "/templates?platform="+url.QueryEscape(comp))
			return
		}
		auditSkip(r) // refused: nothing to record
		f.Err = wxfleet.ErrorMessage(err)
		s.renderTemplate(w, r, statusOfErr(err), &f, nil)
		return
	}
	auditDetail(r, map[string]any{"ext_json_bytes": len(f.ExtJSON), "notes": truncate(f.Notes, 200)})
	http.Redirect(w, r, templateBack(comp, id, "saved")+"#edit", http.StatusSeeOther)
}

// templatePolicyForm declares the template's policy (PUT
// /api/v1/templates/{id}/policy); clear=1 clears it ({}).
func (s *Server) templatePolicyForm(w http.ResponseWriter, r *http.Request) {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/templates")
		return
	}
	auditTarget(r, comp, "", strconv.FormatInt(id, 10))
	clear := r.PostFormValue("clear") != ""
	f := postedPolicyForm(r)
	p := &wxfleet.TemplatePolicy{}
	if !clear {
		p, err = f.policy()
	}
	if err == nil {
		err = s.Rollouts.SetTemplatePolicy(r.Context(), comp, id, p)
	}
	if err != nil {
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			s.errorPage(w, r, "出错了 Error", err, "/templates?platform="+url.QueryEscape(comp))
			return
		}
		auditSkip(r)
		f.Err = wxfleet.ErrorMessage(err)
		s.renderTemplate(w, r, statusOfErr(err), nil, &f)
		return
	}
	done := "policy"
	if p.Empty() {
		done = "cleared"
	}
	auditDetail(r, map[string]any{"cleared": p.Empty()})
	http.Redirect(w, r, templateBack(comp, id, done)+"#policy", http.StatusSeeOther)
}

// templateDeleteWhat says what deleting a template does (rollout.Service
// DeleteTemplate, and what the rollouts and the policy then do).
const templateDeleteWhat = "删除模板：在微信的模板库中删除（deletetemplate），不能恢复；不能再用它新建发布。" +
	"进行中的发布不会停止：还没提交代码的小程序提交时会被微信拒绝（85014）而记为失败，失败过多时发布会暂停；已提交的继续审核与发布。" +
	"已上线的版本不受影响。它声明的策略不再用于新授权的小程序。" +
	" / Delete the template: it is deleted from WeChat's template library (deletetemplate) for good, and no new rollout can use it. " +
	"Rollouts of it that are running are not stopped: their apps not yet committed are refused by WeChat (85014) and fail, " +
	"which pauses a rollout once too many fail; apps already committed go on through audit and release. " +
	"Released versions stay as they are. Its policy is no longer applied to apps that authorize later."

// deleteTemplateForm deletes the template (DELETE /api/v1/templates/{id})
// once confirmed.
func (s *Server) deleteTemplateForm(w http.ResponseWriter, r *http.Request) {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/templates")
		return
	}
	auditTarget(r, comp, "", strconv.FormatInt(id, 10))
	list := "/templates?platform=" + url.QueryEscape(comp)
	back := fmt.Sprintf("/templates/%d?platform=%s", id, url.QueryEscape(comp))
	if r.PostFormValue("confirm") != "yes" {
		t, err := s.Store.Template(r.Context(), comp, id)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, list)
			return
		}
		running, err := s.runningRolloutsOf(r, comp, id)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, back)
			return
		}
		auditSkip(r) // asked, not done
		en := pageLang(r) == langEN
		subject := fmt.Sprintf("模板 template #%d · v%s", id, t.UserVersion)
		if en {
			subject = fmt.Sprintf("Template #%d · v%s", id, t.UserVersion)
		}
		if len(running) > 0 {
			ids := make([]string, len(running))
			for i, ro := range running {
				ids[i] = "#" + strconv.FormatInt(ro.ID, 10)
			}
			if en {
				subject += fmt.Sprintf(" · rollouts not finished: %s", strings.Join(ids, ", "))
			} else {
				subject += fmt.Sprintf(" · 未结束的发布 rollouts not finished: %s", strings.Join(ids, ", "))
			}
		}
		s.render(w, r, http.StatusOK, "confirm", map[string]any{
			"Title": "请确认 Please confirm", "What": templateDeleteWhat, "Back": back, "Platform": comp,
			"FormAction": fmt.Sprintf("/templates/%d/delete?platform=%s", id, url.QueryEscape(comp)), "Subject": subject,
		})
		return
	}
	if err := s.Rollouts.DeleteTemplate(r.Context(), comp, id); err != nil {
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			s.errorPage(w, r, "出错了 Error", err, list)
			return
		}
		s.errorPage(w, r, "模板未删除 Template not deleted", err, back)
		return
	}
	http.Redirect(w, r, templateBack(comp, id, "deleted"), http.StatusSeeOther)
}
