package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/messaging"
	"github.com/wxfleet/wxfleet/wechat"
)

// The console's fleet-wide apply of a subscribe template (订阅消息模板批量添加):
// the operator picks a template of WeChat's library and its keywords (the
// library is read through one mini program, as WeChat serves it per app),
// the target apps (all / tags / appids, as a rollout's), previews how many
// apps that is, confirms, and follows the apply's job on its own page. The
// API is POST /api/v1/subscribe-templates/apply (web/messaging.go).

func (s *Server) subscribeApplyPages(mux *http.ServeMux) {
	s.page(mux, "GET /subscribe-templates/apply", StaffRead(), s.subscribeApplyPage)
	s.page(mux, "POST /subscribe-templates/apply", StaffWrite("subscribe_template.apply"), s.subscribeApplyForm)
	s.page(mux, "GET /subscribe-templates/apply/{id}", StaffRead(), s.subscribeApplyStatusPage)
}

// applyForm is the apply as the console's form holds it.
type applyForm struct {
	Via       string // the mini program the library is read through
	Category  string
	TID       string
	KIDs      []string
	SceneDesc string
	Target    string // all, tags, appids
	Tags      string
	AppIDs    string
}

func readApplyForm(r *http.Request) applyForm {
	_ = r.ParseForm() // a bad body leaves the fields empty: the form then says what is missing
	f := applyForm{Via: strings.TrimSpace(r.FormValue("via")), Category: r.FormValue("category"), TID: strings.TrimSpace(r.FormValue("tid")),
		KIDs: r.Form["kid"], SceneDesc: strings.TrimSpace(r.FormValue("scene_desc")), Target: r.FormValue("target"),
		Tags: r.FormValue("tags"), AppIDs: r.FormValue("appids")}
	if f.Target == "" {
		f.Target = "all"
	}
	return f
}

// query is the form as a query string, less the keys named (a link that
// changes them adds them back).
func (f applyForm) query(comp string, without ...string) url.Values {
	v := url.Values{"platform": {comp}, "via": {f.Via}, "category": {f.Category}, "tid": {f.TID}, "scene_desc": {f.SceneDesc},
		"target": {f.Target}, "tags": {f.Tags}, "appids": {f.AppIDs}, "kid": f.KIDs}
	for k, vs := range v {
		if slices.Contains(without, k) || len(vs) == 0 || len(vs) == 1 && vs[0] == "" {
			delete(v, k)
		}
	}
	return v
}

// targets resolves the form's targets to appids (rollouts' rules).
func (s *Server) applyTargets(r *http.Request, comp string, f applyForm) ([]string, error) {
	words := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	}
	var t wxfleet.RolloutTargets
	switch f.Target {
	case "all":
		t.All = true
	case "tags":
		if t.Tags = words(f.Tags); len(t.Tags) == 0 {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "请填写标签 / give at least one tag")
		}
	case "appids":
		if t.AppIDs = words(f.AppIDs); len(t.AppIDs) == 0 {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "请填写 appid / give at least one appid")
		}
	default:
		return nil, wxfleet.Errorf(wxfleet.EINVALID, "未知的范围 / unknown target %q", f.Target)
	}
	return s.Store.TargetAppIDs(r.Context(), comp, t)
}

// request turns the chosen template and keywords into the service's request.
func (f applyForm) request() (messaging.AddRequest, error) {
	req := messaging.AddRequest{SceneDesc: f.SceneDesc}
	tid, err := strconv.Atoi(f.TID)
	if err != nil || tid <= 0 {
		return req, wxfleet.Errorf(wxfleet.EINVALID, "请从模板库选择模板 / choose a template of the library")
	}
	req.TID = tid
	for _, v := range f.KIDs {
		kid, err := strconv.Atoi(v)
		if err != nil {
			return req, wxfleet.Errorf(wxfleet.EINVALID, "关键词 id 须是整数 / keyword ids must be integers")
		}
		req.KIDs = append(req.KIDs, kid)
	}
	if len(req.KIDs) < 2 || len(req.KIDs) > 5 {
		return req, wxfleet.Errorf(wxfleet.EINVALID, "请选择 2 到 5 个关键词 / choose 2 to 5 keywords")
	}
	return req, nil
}

type applyLink struct {
	ID   int
	Name string
	Href string
	On   bool
}

// subscribeApplyPage is the form; with ?preview=1 it shows how many apps the
// apply reaches and the button that starts exactly what was previewed.
func (s *Server) subscribeApplyPage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	f := readApplyForm(r)
	data := map[string]any{"Title": "批量添加订阅消息模板 Apply a subscribe template fleet-wide", "Platform": comp, "F": f}
	appids, terr := s.applyTargets(r, comp, f)
	if terr != nil {
		data["TargetErr"] = wxfleet.ErrorMessage(terr)
	}
	via := f.Via
	if via == "" && len(appids) > 0 {
		via = appids[0]
	}
	data["ViaApp"] = via
	ctx := r.Context()
	if via == "" {
		data["LibErr"] = "没有可读取模板库的小程序：请先选择范围或填写一个小程序 / no mini program to read the library through: choose the targets or name one"
	} else {
		var cats []int
		if id, err := strconv.Atoi(f.Category); err == nil {
			cats = []int{id}
		}
		categories, titles, _, err := s.Messaging.Library(ctx, comp, via, cats, 0, 30)
		if err != nil {
			data["LibErr"] = wechatErrText(err)
		}
		var cl, tl []applyLink
		for _, c := range categories {
			q := f.query(comp, "category", "tid", "kid", "preview")
			q.Set("category", strconv.Itoa(c.ID))
			q.Set("via", via)
			cl = append(cl, applyLink{c.ID, c.Name, "/subscribe-templates/apply?" + q.Encode(), strconv.Itoa(c.ID) == f.Category})
		}
		if f.Category != "" {
			for _, t := range titles {
				q := f.query(comp, "tid", "kid", "preview")
				q.Set("tid", strconv.Itoa(t.TID))
				q.Set("via", via)
				tl = append(tl, applyLink{t.TID, t.Title, "/subscribe-templates/apply?" + q.Encode(), strconv.Itoa(t.TID) == f.TID})
				if strconv.Itoa(t.TID) == f.TID {
					data["TemplateTitle"] = t.Title
				}
			}
		}
		data["Categories"], data["Titles"] = cl, tl
		if tid, err := strconv.Atoi(f.TID); err == nil {
			if kws, err := s.Messaging.Keywords(ctx, comp, via, tid); err != nil {
				data["KwErr"] = wechatErrText(err)
			} else {
				data["Keywords"] = applyKeywords(kws, f.KIDs)
			}
		}
	}
	if r.URL.Query().Get("preview") != "" {
		_, err := f.request()
		if err == nil {
			err = terr
		}
		if err == nil && len(appids) == 0 {
			err = wxfleet.Errorf(wxfleet.EINVALID, "范围内没有小程序 / the targets name no mini program")
		}
		if err != nil {
			data["Err"] = wxfleet.ErrorMessage(err)
		} else {
			data["Preview"] = map[string]any{"Count": len(appids), "Sample": appids[:min(len(appids), 20)], "More": len(appids) > 20}
		}
	}
	s.render(w, r, http.StatusOK, "subscribe_apply", data)
}

type applyKeyword struct {
	wechat.PubTemplateKeyword
	Checked bool
}

func applyKeywords(kws []wechat.PubTemplateKeyword, chosen []string) []applyKeyword {
	out := make([]applyKeyword, len(kws))
	for i, k := range kws {
		out[i] = applyKeyword{k, slices.Contains(chosen, strconv.Itoa(k.KID))}
	}
	return out
}

// subscribeApplyForm starts the previewed apply: the targets are resolved
// again now, as the preview resolved them.
func (s *Server) subscribeApplyForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	f := readApplyForm(r)
	back := "/subscribe-templates/apply?" + f.query(comp).Encode()
	req, err := f.request()
	var appids []string
	if err == nil {
		appids, err = s.applyTargets(r, comp, f)
	}
	if err == nil && len(appids) == 0 {
		err = wxfleet.Errorf(wxfleet.EINVALID, "范围内没有小程序 / the targets name no mini program")
	}
	var a *wxfleet.SubscribeApply
	if err == nil {
		a, err = s.Messaging.Apply(r.Context(), comp, req, appids)
	}
	if err != nil {
		s.errorPage(w, r, "无法开始批量添加 Cannot start the apply", err, back)
		return
	}
	auditTarget(r, comp, "", strconv.FormatInt(a.ID, 10))
	auditDetail(r, map[string]any{"tid": req.TID, "kid_list": req.KIDs, "apps": len(appids), "target": f.Target})
	http.Redirect(w, r, fmt.Sprintf("/subscribe-templates/apply/%d?platform=%s", a.ID, url.QueryEscape(comp)), http.StatusSeeOther)
}

// subscribeApplyStatusPage shows an apply's job: its counts and each app's
// state, read again every few seconds (htmx) while apps are pending.
func (s *Server) subscribeApplyStatusPage(w http.ResponseWriter, r *http.Request) {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/authorizers")
		return
	}
	st, err := s.Messaging.ApplyStatusOf(r.Context(), comp, id)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/subscribe-templates/apply?platform="+url.QueryEscape(comp))
		return
	}
	total := len(st.Apps)
	done := st.Counts[wxfleet.ApplyAdded] + st.Counts[wxfleet.ApplyFailed]
	pct := 100
	if total > 0 {
		pct = done * 100 / total
	}
	kws := make([]string, len(st.Apply.Keywords))
	for i, k := range st.Apply.Keywords {
		kws[i] = k.Name + " (" + k.Key + ")"
	}
	s.render(w, r, http.StatusOK, "subscribe_apply_status", map[string]any{
		"Title": fmt.Sprintf("批量添加 #%d Apply #%d", id, id), "Platform": comp, "ID": id, "A": st.Apply, "Keywords": strings.Join(kws, "、"),
		"Apps": st.Apps, "Counts": st.Counts, "Total": total, "Done": done, "Pct": pct, "Running": st.Counts[wxfleet.ApplyPending] > 0,
	})
}
