package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The template library (代码模板库) of each platform, with the component
// token: drafts from the developer tool (here a control call stands in for
// the upload), templates made from them, deleted again. docs/wechat-code.md
// "Template library".

// draftRequest is the body of POST /sandbox/api/drafts.
type draftRequest struct {
	ComponentAppID string   `json:"component_appid"`
	UserVersion    string   `json:"user_version"`
	UserDesc       string   `json:"user_desc"`
	Pages          []string `json:"pages"`
	SizeKB         int      `json:"size_kb"`
	PrivacyKeys    []string `json:"privacy_keys"`
}

// POST /sandbox/api/drafts: as if the developer tool uploaded code from the
// platform's development mini program.
func (s *Sandbox) handleAddDraft(w http.ResponseWriter, r *http.Request) {
	var req draftRequest
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	c, err := s.componentFor(req.ComponentAppID)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	if req.UserVersion == "" {
		writeControlError(w, http.StatusBadRequest, errors.New("user_version 必填 / user_version is required"))
		return
	}
	if len(req.Pages) == 0 {
		req.Pages = []string{"pages/index/index"}
	}
	for _, p := range req.Pages {
		if p == "" || strings.HasPrefix(p, "/") {
			writeControlError(w, http.StatusBadRequest, fmt.Errorf("页面路径不能为空或以 / 开头 / a page path is relative and not empty: %q", p))
			return
		}
	}
	if req.SizeKB < 0 {
		writeControlError(w, http.StatusBadRequest, errors.New("size_kb 不能为负 / size_kb must not be negative"))
		return
	}
	if req.SizeKB == 0 {
		req.SizeKB = defaultDraftKB
	}
	cs := s.code
	cs.mu.Lock()
	d := &codeDraft{ID: cs.meta.NextDraft, Component: c.AppID, UserVersion: req.UserVersion, UserDesc: req.UserDesc,
		Pages: slices.Compact(req.Pages), SizeKB: req.SizeKB, PrivacyKeys: req.PrivacyKeys, CreatedAt: cs.now()}
	cs.meta.NextDraft++
	cs.drafts[d.ID] = d
	cs.touchDraft(d.ID)
	cs.touchMeta()
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed"))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		DraftID int64 `json:"draft_id"`
	}{d.ID})
}

// GET /wxa/gettemplatedraftlist
func (s *Sandbox) apiDraftList(r *http.Request, body []byte) (any, int) {
	c, code := s.codeComponent(r)
	if code != 0 {
		return nil, code
	}
	type item struct {
		DraftID     int64  `json:"draft_id"`
		UserVersion string `json:"user_version"`
		UserDesc    string `json:"user_desc"`
		CreateTime  int64  `json:"create_time"`
	}
	cs := s.code
	cs.mu.Lock()
	list := []item{}
	for _, d := range cs.drafts {
		if d.Component == c.AppID {
			list = append(list, item{d.ID, d.UserVersion, d.UserDesc, unix(d.CreatedAt)})
		}
	}
	cs.mu.Unlock()
	slices.SortFunc(list, func(a, b item) int { return int(a.DraftID - b.DraftID) })
	return struct {
		wxError
		List []item `json:"draft_list"`
	}{wxError{0, "ok"}, list}, 0
}

// POST /wxa/addtotemplate {draft_id, template_type}
func (s *Sandbox) apiAddToTemplate(r *http.Request, body []byte) (any, int) {
	c, code := s.codeComponent(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		DraftID      json.RawMessage `json:"draft_id"`
		TemplateType *int            `json:"template_type"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	id, given := flexID(req.DraftID)
	if !given {
		return nil, 85064
	}
	kind := 0
	if req.TemplateType != nil {
		kind = *req.TemplateType
	}
	if kind != 0 && kind != 1 {
		return nil, 47001
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	d := cs.drafts[id]
	if d == nil || d.Component != c.AppID {
		return nil, 85064
	}
	n := 0
	for _, t := range cs.templates {
		if t.Draft.Component == c.AppID {
			n++
		}
	}
	if n >= cs.meta.Limits.TemplateLimit {
		return nil, 85065
	}
	t := &codeTemplate{ID: cs.meta.NextTemplate, Type: kind, Draft: *d, CreatedAt: cs.now()}
	cs.meta.NextTemplate++
	cs.templates[t.ID] = t
	cs.touchTemplate(t.ID)
	cs.touchMeta()
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// templateItem is one entry of gettemplatelist.
type templateItem struct {
	TemplateID   int64  `json:"template_id"`
	DraftID      int64  `json:"draft_id"`
	UserVersion  string `json:"user_version"`
	UserDesc     string `json:"user_desc"`
	CreateTime   int64  `json:"create_time"`
	TemplateType int    `json:"template_type"`
	SourceAppID  string `json:"source_miniprogram_appid"`
	Source       string `json:"source_miniprogram"`
	Developer    string `json:"developer"`
}

// GET /wxa/gettemplatelist[?template_type=0|1]
func (s *Sandbox) apiTemplateList(r *http.Request, body []byte) (any, int) {
	c, code := s.codeComponent(r)
	if code != 0 {
		return nil, code
	}
	want := -1
	if v := r.URL.Query().Get("template_type"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, 47001
		}
		want = n
	}
	cs := s.code
	cs.mu.Lock()
	list := []templateItem{}
	for _, t := range cs.templates {
		if t.Draft.Component != c.AppID || (want >= 0 && t.Type != want) {
			continue
		}
		list = append(list, templateItem{TemplateID: t.ID, DraftID: t.Draft.ID, UserVersion: t.Draft.UserVersion,
			UserDesc: t.Draft.UserDesc, CreateTime: unix(t.CreatedAt), TemplateType: t.Type,
			SourceAppID: devMiniProgram(c.AppID), Source: c.Name + "开发小程序", Developer: "sandbox"})
	}
	cs.mu.Unlock()
	slices.SortFunc(list, func(a, b templateItem) int { return int(a.TemplateID - b.TemplateID) })
	return struct {
		wxError
		List []templateItem `json:"template_list"`
	}{wxError{0, "ok"}, list}, 0
}

// devMiniProgram names the platform's development mini program (开发小程序),
// where drafts come from: an appid derived from the component's.
func devMiniProgram(componentAppID string) string {
	if len(componentAppID) == 18 {
		return "wx" + componentAppID[10:] + componentAppID[2:10]
	}
	return componentAppID
}

// POST /wxa/deletetemplate {template_id}: a number, or a numeric string as
// PowerWeChat sends it.
func (s *Sandbox) apiDeleteTemplate(r *http.Request, body []byte) (any, int) {
	c, code := s.codeComponent(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		TemplateID json.RawMessage `json:"template_id"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	id, given := flexID(req.TemplateID)
	if !given {
		return nil, 85064
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	t := cs.templates[id]
	if t == nil || t.Draft.Component != c.AppID {
		return nil, 85064
	}
	delete(cs.templates, id)
	cs.touchTemplate(id)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}
