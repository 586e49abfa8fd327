package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
)

// codeLimitsRequest is the body of POST /sandbox/api/code-limits: each
// field given replaces that limit.
type codeLimitsRequest struct {
	AuditQuota    *int `json:"audit_quota"`
	SpeedupQuota  *int `json:"speedup_quota"`
	TemplateLimit *int `json:"template_limit"`
	PackageKB     *int `json:"package_limit_kb"`
	TesterApps    *int `json:"tester_apps_limit"`
}

// GET /sandbox/api/code-limits
func (s *Sandbox) handleGetCodeLimits(w http.ResponseWriter, r *http.Request) {
	s.code.mu.Lock()
	l := s.code.meta.Limits
	s.code.mu.Unlock()
	writeJSON(w, http.StatusOK, l)
}

// POST /sandbox/api/code-limits {"audit_quota","speedup_quota","template_limit","package_limit_kb","tester_apps_limit"}
func (s *Sandbox) handleSetCodeLimits(w http.ResponseWriter, r *http.Request) {
	var req codeLimitsRequest
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	for _, v := range []*int{req.AuditQuota, req.SpeedupQuota, req.TemplateLimit, req.PackageKB, req.TesterApps} {
		if v != nil && *v < 0 {
			writeControlError(w, http.StatusBadRequest, errors.New("限额不能为负 / limits must not be negative"))
			return
		}
	}
	cs := s.code
	cs.mu.Lock()
	l := &cs.meta.Limits
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&l.AuditQuota, req.AuditQuota)
	set(&l.SpeedupQuota, req.SpeedupQuota)
	set(&l.TemplateLimit, req.TemplateLimit)
	set(&l.PackageKB, req.PackageKB)
	set(&l.TesterApps, req.TesterApps)
	out := *l
	cs.touchMeta()
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// auditView is an audit as the control API shows it.
type auditView struct {
	AuditID     int64  `json:"auditid"`
	Status      int    `json:"status"`
	UserVersion string `json:"user_version"`
	TemplateID  int64  `json:"template_id"`
	Reason      string `json:"reason,omitempty"`
	ScreenShot  string `json:"screenshot,omitempty"`
	SubmittedAt string `json:"submitted_at"`
	DueAt       string `json:"due_at,omitempty"`
	DecidedAt   string `json:"decided_at,omitempty"`
	SpedUp      bool   `json:"sped_up,omitempty"`
	Released    bool   `json:"released,omitempty"`
}

func viewAudit(a *codeAudit) auditView {
	return auditView{AuditID: a.ID, Status: a.Status, UserVersion: a.Version.UserVersion, TemplateID: a.Version.TemplateID,
		Reason: a.Reason, ScreenShot: a.ScreenShot, SubmittedAt: rfc3339(a.SubmittedAt), DueAt: rfc3339(a.DueAt),
		DecidedAt: rfc3339(a.DecidedAt), SpedUp: a.SpedUp, Released: a.Released}
}

// versionView is a committed or released version as the control API shows it.
type versionView struct {
	AppVersion  int64    `json:"app_version,omitempty"`
	TemplateID  int64    `json:"template_id"`
	UserVersion string   `json:"user_version"`
	UserDesc    string   `json:"user_desc"`
	CommitTime  string   `json:"commit_time"`
	ReleaseTime string   `json:"release_time,omitempty"`
	Rollback    bool     `json:"rollback,omitempty"`
	Pages       []string `json:"pages,omitempty"`
	ExtJSON     string   `json:"ext_json,omitempty"`
}

func viewVersion(v codeVersion) versionView {
	return versionView{TemplateID: v.TemplateID, UserVersion: v.UserVersion, UserDesc: v.UserDesc,
		CommitTime: rfc3339(v.CommitTime), Pages: v.Pages, ExtJSON: v.ExtJSON}
}

func viewRelease(r codeRelease) versionView {
	v := viewVersion(r.Version)
	v.AppVersion, v.ReleaseTime, v.Rollback, v.Pages, v.ExtJSON = r.AppVersion, rfc3339(r.ReleasedAt), r.Rollback, nil, ""
	return v
}

// appCodeView is GET /sandbox/api/apps/{appid}/code.
type appCodeView struct {
	AppID          string        `json:"appid"`
	ComponentAppID string        `json:"component_appid"`
	Exp            *versionView  `json:"exp"`      // the committed 体验版
	Auditing       *auditView    `json:"auditing"` // the audit in progress
	Latest         *auditView    `json:"latest_audit"`
	Released       *versionView  `json:"released"` // online
	Gray           *grayPlan     `json:"gray"`     // the gray release, running or not
	History        []versionView `json:"history"`  // what revertcoderelease can go back to, newest first
	Audits         []auditView   `json:"audits"`
	VisitStatus    string        `json:"visit_status"`
	Counts         codeCounts    `json:"counts"`
	Events         []codeEvent   `json:"events"`
	Domains        codeDomains   `json:"domains"`
	Webview        []string      `json:"webviewdomain"`
	Testers        int           `json:"testers"`
}

// GET /sandbox/api/apps/{appid}/code: the app's code-management state, with
// due audits decided first.
func (s *Sandbox) handleAppCode(w http.ResponseWriter, r *http.Request) {
	appid := r.PathValue("appid")
	if s.account(appid) == nil {
		writeControlError(w, http.StatusNotFound, fmt.Errorf("unknown appid %q", appid))
		return
	}
	cs := s.code
	cs.mu.Lock()
	cs.settleDueLocked(appid)
	v := cs.viewApp(cs.app(appid))
	cs.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

// viewApp renders an app's state. Callers hold cs.mu.
func (cs *codeState) viewApp(a *appCode) appCodeView {
	v := appCodeView{AppID: a.AppID, ComponentAppID: a.Component, Gray: a.Gray, History: []versionView{}, Audits: []auditView{},
		VisitStatus: "open", Counts: a.Counts, Events: slices.Clone(a.Events), Domains: a.Domains, Webview: a.Webview, Testers: len(a.Testers)}
	if a.VisitClosed {
		v.VisitStatus = "close"
	}
	if v.Events == nil {
		v.Events = []codeEvent{}
	}
	if a.Exp != nil {
		e := viewVersion(*a.Exp)
		v.Exp = &e
	}
	if a.Online != nil {
		o := viewRelease(*a.Online)
		v.Released = &o
	}
	for _, h := range a.History {
		v.History = append(v.History, viewRelease(h))
	}
	for _, id := range a.Audits {
		if au := cs.audits[id]; au != nil {
			v.Audits = append(v.Audits, viewAudit(au))
		}
	}
	if au := cs.audits[a.LatestAudit]; au != nil {
		l := viewAudit(au)
		v.Latest = &l
		if au.open() {
			v.Auditing = &l
		}
	}
	return v
}

// GET /sandbox/api/code/apps: the counters of every app with code state,
// for tests that check a whole fleet at once.
func (s *Sandbox) handleCodeApps(w http.ResponseWriter, r *http.Request) {
	type item struct {
		AppID       string     `json:"appid"`
		Counts      codeCounts `json:"counts"`
		ExpVersion  string     `json:"exp_version,omitempty"`
		Online      string     `json:"released_version,omitempty"`
		AuditStatus *int       `json:"audit_status,omitempty"`
	}
	cs := s.code
	cs.decideAll()
	cs.mu.Lock()
	items := make([]item, 0, len(cs.apps))
	for _, a := range cs.apps {
		it := item{AppID: a.AppID, Counts: a.Counts}
		if a.Exp != nil {
			it.ExpVersion = a.Exp.UserVersion
		}
		if a.Online != nil {
			it.Online = a.Online.Version.UserVersion
		}
		if au := cs.audits[a.LatestAudit]; au != nil {
			st := au.Status
			it.AuditStatus = &st
		}
		items = append(items, it)
	}
	cs.mu.Unlock()
	slices.SortFunc(items, func(a, b item) int { return compareStrings(a.AppID, b.AppID) })
	writeJSON(w, http.StatusOK, struct {
		Items []item `json:"items"`
	}{items})
}
