package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Audits (代码审核): submit_audit, get_auditstatus, get_latest_auditstatus,
// undocodeaudit, speedupaudit and queryquota. The simulator (code_sim.go)
// decides them. docs/wechat-code.md "Commit, audit, release".

// auditItem is one page described for the reviewers.
type auditItem struct {
	Address     string `json:"address"`
	Tag         string `json:"tag"`
	Title       string `json:"title"`
	FirstClass  string `json:"first_class"`
	SecondClass string `json:"second_class"`
	ThirdClass  string `json:"third_class"`
	FirstID     int    `json:"first_id"`
	SecondID    int    `json:"second_id"`
	ThirdID     int    `json:"third_id"`
}

// checkItems applies submit_audit's item_list rules: 1 to 5 items (85023
// beyond 5; an empty list is taken, as current WeChat does), no empty item
// (85010), pages of the committed code (85007), at most 10 tags of at most
// 20 characters (85006), titles of at most 32 characters (85011).
func checkItems(items []auditItem, pages []string) int {
	if len(items) > 5 {
		return 85023
	}
	for _, it := range items {
		if it == (auditItem{}) {
			return 85010
		}
		if it.Address != "" && !slices.Contains(pages, it.Address) {
			return 85007
		}
		tags := strings.Fields(it.Tag)
		if len(tags) > 10 {
			return 85006
		}
		for _, t := range tags {
			if utf8.RuneCountInString(t) > 20 {
				return 85006
			}
		}
		if utf8.RuneCountInString(it.Title) > 32 {
			return 85011
		}
	}
	return 0
}

// POST /wxa/submit_audit {item_list?, version_desc?, ...} → {auditid}
func (s *Sandbox) apiSubmitAudit(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		ItemList         []auditItem `json:"item_list"`
		VersionDesc      string      `json:"version_desc"`
		PrivacyAPINotUse bool        `json:"privacy_api_not_use"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(who.appid)
	if a.Exp == nil {
		return nil, 85086
	}
	if a.Suspended {
		return nil, 86007
	}
	if last := cs.audits[a.LatestAudit]; last != nil && last.open() {
		return nil, 85009
	}
	if code := checkItems(req.ItemList, a.Exp.Pages); code != 0 {
		return nil, code
	}
	if !req.PrivacyAPINotUse && !a.privacyCovers(a.Exp.PrivacyKeys) {
		return nil, 61040
	}
	now := cs.now()
	q := cs.quota(who.comp.AppID, now)
	if q.Submits >= cs.meta.Limits.AuditQuota {
		return nil, 85085
	}
	q.Submits++
	au := &codeAudit{ID: cs.meta.NextAudit, AppID: who.appid, UserName: who.userName, Component: who.comp.AppID, Version: *a.Exp,
		VersionDesc: req.VersionDesc, Status: auditPending, SubmittedAt: now, DueAt: now.Add(cs.meta.Rules.delay())}
	cs.meta.NextAudit++
	cs.audits[au.ID] = au
	cs.open[au.ID] = au
	a.LatestAudit = au.ID
	a.Audits = append(a.Audits, au.ID)
	a.Counts.Submits++
	cs.touchAudit(au)
	cs.touchApp(a)
	cs.touchMeta()
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return struct {
		wxError
		AuditID int64 `json:"auditid"`
	}{wxError{0, "ok"}, au.ID}, 0
}

// appAudit finds one of the app's audits by the body's auditid: 85012 when
// it is missing, unknown or another app's. Callers hold cs.mu.
func (cs *codeState) appAudit(appid string, body []byte) (*codeAudit, int) {
	var req struct {
		AuditID json.RawMessage `json:"auditid"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	id, given := flexID(req.AuditID)
	au := cs.audits[id]
	if !given || au == nil || au.AppID != appid {
		return nil, 85012
	}
	return au, 0
}

// POST /wxa/get_auditstatus {auditid} → {status, reason?, screenshot?}
func (s *Sandbox) apiAuditStatus(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.settleDueLocked(who.appid)
	au, code := cs.appAudit(who.appid, body)
	if code != 0 {
		return nil, code
	}
	return struct {
		wxError
		Status     int    `json:"status"`
		Reason     string `json:"reason,omitempty"`
		ScreenShot string `json:"screenshot,omitempty"`
	}{wxError{0, "ok"}, au.Status, au.Reason, au.ScreenShot}, 0
}

// GET /wxa/get_latest_auditstatus → the latest submission, with the
// screenshot under both spellings (ScreenShot in PowerWeChat and SKIT,
// screenshot in WxJava). 85012 before any submission.
func (s *Sandbox) apiLatestAuditStatus(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.settleDueLocked(who.appid)
	au := cs.audits[cs.app(who.appid).LatestAudit]
	if au == nil {
		return nil, 85012
	}
	return struct {
		wxError
		AuditID     int64  `json:"auditid"`
		Status      int    `json:"status"`
		Reason      string `json:"reason,omitempty"`
		ScreenShot  string `json:"ScreenShot,omitempty"`
		Screenshot  string `json:"screenshot,omitempty"`
		UserVersion string `json:"user_version"`
		UserDesc    string `json:"user_desc"`
		SubmitTime  int64  `json:"submit_audit_time"`
	}{wxError{0, "ok"}, au.ID, au.Status, au.Reason, au.ScreenShot, au.ScreenShot,
		au.Version.UserVersion, au.Version.UserDesc, unix(au.SubmittedAt)}, 0
}

// GET /wxa/undocodeaudit: withdraws the audit in progress. 85019 when
// none is (sources name no code; this one says "no audit version"), 87013
// beyond 5 a day or 10 a month per mini program. The quota is not refunded.
func (s *Sandbox) apiUndoAudit(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.settleDueLocked(who.appid)
	a := cs.app(who.appid)
	au := cs.audits[a.LatestAudit]
	if au == nil || !au.open() {
		return nil, 85019
	}
	now := cs.now()
	if day := quotaDay(now); a.UndoDay.Period != day {
		a.UndoDay = quotaUse{Period: day}
	}
	if month := quotaMonth(now); a.UndoMonth.Period != month {
		a.UndoMonth = quotaUse{Period: month}
	}
	if a.UndoDay.Count >= undoPerDay || a.UndoMonth.Count >= undoPerMonth {
		return nil, 87013
	}
	a.UndoDay.Count++
	a.UndoMonth.Count++
	au.Status, au.DueAt, au.DecidedAt = auditWithdrawn, time.Time{}, now
	delete(cs.open, au.ID)
	a.Counts.Undos++
	cs.touchAudit(au)
	cs.touchApp(a)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// POST /wxa/speedupaudit {auditid}: halves the time left of an audit in
// progress, using one of the platform's monthly speed-ups (85085 when they
// are used up: sources name no code). An audit already decided is left as it
// is. The reference takes the authorizer's or the component's token.
func (s *Sandbox) apiSpeedupAudit(r *http.Request, body []byte) (any, int) {
	appid, comp, code := s.codeEitherToken(r, body)
	if code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	au, code := cs.appAudit(appid, body)
	if code != 0 {
		return nil, code
	}
	if !au.open() || au.SpedUp {
		return ok(), 0
	}
	now := cs.now()
	q := cs.quota(comp, now)
	if q.Speedups >= cs.meta.Limits.SpeedupQuota {
		return nil, 85085
	}
	q.Speedups++
	au.SpedUp = true
	if left := au.DueAt.Sub(now); left > 0 {
		au.DueAt = now.Add(left / 2)
	}
	a := cs.app(appid)
	a.Counts.Speedups++
	cs.touchAudit(au)
	cs.touchApp(a)
	cs.touchMeta()
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// codeEitherToken resolves an API that takes an authorizer token or the
// component token: it returns the app (from the token, or from the body's
// auditid for a component token) and the platform.
func (s *Sandbox) codeEitherToken(r *http.Request, body []byte) (appid, comp string, code int) {
	who, code := s.codeAuthorizer(r)
	if code == 0 {
		return who.appid, who.comp.AppID, 0
	}
	if code != 40001 {
		return "", "", code
	}
	s.mu.Lock()
	c, _, ccode := s.componentByToken(r)
	s.mu.Unlock()
	if ccode != 0 {
		return "", "", code
	}
	var req struct {
		AuditID json.RawMessage `json:"auditid"`
	}
	if code := decode(body, &req); code != 0 {
		return "", "", code
	}
	id, _ := flexID(req.AuditID)
	s.code.mu.Lock()
	defer s.code.mu.Unlock()
	if au := s.code.audits[id]; au != nil && au.Component == c.AppID {
		return au.AppID, c.AppID, 0
	}
	return "", "", 85012
}

// GET /wxa/queryquota → {rest, limit, speedup_rest, speedup_limit} of the
// platform, this month (Beijing time, sandbox clock).
func (s *Sandbox) apiQueryQuota(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	q := cs.quota(who.comp.AppID, cs.now())
	l := cs.meta.Limits
	return struct {
		wxError
		Rest         int `json:"rest"`
		Limit        int `json:"limit"`
		SpeedupRest  int `json:"speedup_rest"`
		SpeedupLimit int `json:"speedup_limit"`
	}{wxError{0, "ok"}, max(0, l.AuditQuota-q.Submits), l.AuditQuota, max(0, l.SpeedupQuota-q.Speedups), l.SpeedupQuota}, 0
}

// privacyCovers tells whether the development version's privacy guide
// (privacy_ver 2) is set and declares every privacy key the code uses: a
// submission of code using privacy APIs the guide does not cover is refused
// with 61040, unless it declares privacy_api_not_use (docs/wechat-code.md).
func (a *appCode) privacyCovers(keys []string) bool {
	if len(keys) == 0 {
		return true
	}
	p := a.Privacy["2"]
	if p == nil {
		return false
	}
	for _, k := range keys {
		if !slices.ContainsFunc(p.Settings, func(e privacyElement) bool { return e.PrivacyKey == k }) {
			return false
		}
	}
	return true
}
