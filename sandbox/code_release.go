package sandbox

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Releases: release, revertcoderelease (and its history), the gray release
// (分阶段发布), change_visitstatus and getversioninfo. docs/wechat-code.md
// "Commit, audit, release".

// Gray release plan states (WxJava's getgrayreleaseplan comment).
const (
	grayNone     = 0 // 初始 (no plan)
	grayRunning  = 1
	grayFinished = 3
	grayDeleted  = 4
)

// grayRunning tells whether a gray release is in progress.
func (a *appCode) grayRunning() bool { return a.Gray != nil && a.Gray.Status == grayRunning }

// grayAutoRelease is how long a gray release may run: on the 15th day
// WeChat releases the version fully by itself (docs/wechat-code.md "Gray
// release rules").
const grayAutoRelease = 15 * 24 * time.Hour

// finishGrayDueLocked releases fully the app's gray release once it has run
// grayAutoRelease, dated then (not now), so moving the clock gives what
// waiting would: getgrayreleaseplan says 3 (finished) and getversioninfo's
// release_info is the gray version. No call is counted: WeChat did it.
// Callers hold cs.mu.
func (cs *codeState) finishGrayDueLocked(appid string) {
	a := cs.apps[appid]
	if a == nil || !a.grayRunning() {
		return
	}
	at := a.Gray.CreatedAt.Add(grayAutoRelease)
	if cs.now().Before(at) {
		return
	}
	a.Gray.Status = grayFinished
	if au := cs.audits[a.Gray.AuditID]; au != nil && !au.Released {
		au.Released = true
		a.promote(codeRelease{AppVersion: a.NextAppVersion, Version: au.Version, AuditID: au.ID, ReleasedAt: at})
		a.NextAppVersion++
		cs.touchAudit(au)
	}
	cs.touchApp(a)
	cs.flush() // logged; on failure the change stays in memory and is written with the next
}

// settleDueLocked brings the app up to the clock: its due audit decided,
// its gray release fully released after 15 days. Callers hold cs.mu.
func (cs *codeState) settleDueLocked(appid string) {
	cs.decideDueLocked(appid)
	cs.finishGrayDueLocked(appid)
}

// promote makes v the online version; the one it replaces goes into the
// history, newest first, of which WeChat keeps a few.
func (a *appCode) promote(rel codeRelease) {
	if a.Online != nil {
		a.History = append([]codeRelease{*a.Online}, a.History...)
	}
	a.History = slices.DeleteFunc(a.History, func(h codeRelease) bool { return h.AppVersion == rel.AppVersion })
	if len(a.History) > historyLimit {
		a.History = a.History[:historyLimit]
	}
	a.Online = &rel
}

// POST /wxa/release with the body {}: the approved version goes online.
// 85019 when there is nothing approved (no audit, or it was rejected or
// withdrawn), 85020 while the audit is in progress, 85052 when the approved
// version is already released. A running gray release finishes.
func (s *Sandbox) apiRelease(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req map[string]json.RawMessage
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	if req == nil {
		return nil, 47001 // "null", not the object {}
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.settleDueLocked(who.appid)
	a := cs.app(who.appid)
	au := cs.audits[a.LatestAudit]
	switch {
	case au == nil || au.Status == auditRejected || au.Status == auditWithdrawn:
		return nil, 85019
	case au.open():
		return nil, 85020
	case au.Released:
		return nil, 85052
	case a.grayRunning() && a.Gray.AuditID != au.ID:
		// Another version is in gray release: WeChat releases no new
		// version until it is fully released or reverted.
		return nil, 87011
	}
	au.Released = true
	a.promote(codeRelease{AppVersion: a.NextAppVersion, Version: au.Version, AuditID: au.ID, ReleasedAt: cs.now()})
	a.NextAppVersion++
	if a.grayRunning() {
		a.Gray.Status = grayFinished
	}
	a.Counts.Releases++
	cs.touchAudit(au)
	cs.touchApp(a)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// GET /wxa/revertcoderelease: back to the previous version;
// ?action=get_history_version lists the versions to go back to;
// ?app_version=N goes back to that one (SKIT sends it with action too, so
// app_version decides). 87011 during a gray release, 87012 when there is
// nothing to go back to, N is not in the history, or the online version is
// itself a rollback and no version is named.
func (s *Sandbox) apiRevertRelease(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	q := r.URL.Query()
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.finishGrayDueLocked(who.appid)
	a := cs.app(who.appid)
	if q.Get("app_version") == "" && q.Get("action") == "get_history_version" {
		type item struct {
			AppVersion  int64  `json:"app_version"`
			UserVersion string `json:"user_version"`
			UserDesc    string `json:"user_desc"`
			CommitTime  int64  `json:"commit_time"`
		}
		out := []item{}
		for _, h := range a.History {
			out = append(out, item{h.AppVersion, h.Version.UserVersion, h.Version.UserDesc, unix(h.Version.CommitTime)})
		}
		return struct {
			wxError
			List []item `json:"version_list"`
		}{wxError{0, "ok"}, out}, 0
	}
	if q.Get("action") != "" && q.Get("action") != "get_history_version" {
		return nil, 47001
	}
	if a.grayRunning() {
		return nil, 87011
	}
	i := 0
	if v := q.Get("app_version"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, 87012
		}
		i = slices.IndexFunc(a.History, func(h codeRelease) bool { return h.AppVersion == n })
	} else if a.Online != nil && a.Online.Rollback {
		return nil, 87012
	}
	if a.Online == nil || i < 0 || i >= len(a.History) {
		return nil, 87012
	}
	target := a.History[i]
	target.Rollback, target.ReleasedAt = true, cs.now()
	a.promote(target)
	a.Counts.Rollbacks++
	cs.touchApp(a)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// POST /wxa/grayrelease {gray_percentage, support_debuger_first?,
// support_experiencer_first?}: releases the approved version to a share of
// users. 85079 without an online version, 85080 without an approved,
// unreleased audit, 85081 for a percentage outside 1–100 (0 only with one
// of the two "first" flags), 85082 when it does not grow.
func (s *Sandbox) apiGrayRelease(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		Percentage       *int `json:"gray_percentage"`
		DebugerFirst     bool `json:"support_debuger_first"`
		ExperiencerFirst bool `json:"support_experiencer_first"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	if req.Percentage == nil || *req.Percentage < 0 || *req.Percentage > 100 ||
		*req.Percentage == 0 && !req.DebugerFirst && !req.ExperiencerFirst {
		return nil, 85081
	}
	p := *req.Percentage
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.settleDueLocked(who.appid)
	a := cs.app(who.appid)
	if a.Online == nil {
		return nil, 85079
	}
	au := cs.audits[a.LatestAudit]
	if au == nil || au.Status != auditApproved || au.Released {
		return nil, 85080
	}
	if a.grayRunning() && a.Gray.AuditID != au.ID {
		return nil, 87011 // another version's gray release runs
	}
	if a.grayRunning() && a.Gray.AuditID == au.ID {
		if p <= a.Gray.Percentage {
			return nil, 85082
		}
		a.Gray.Percentage, a.Gray.DebugerFirst, a.Gray.ExperiencerFirst = p, req.DebugerFirst, req.ExperiencerFirst
	} else {
		a.Gray = &grayPlan{Status: grayRunning, Percentage: p, CreatedAt: cs.now(), DebugerFirst: req.DebugerFirst,
			ExperiencerFirst: req.ExperiencerFirst, AuditID: au.ID}
	}
	a.Counts.GrayReleases++
	cs.touchApp(a)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// GET /wxa/revertgrayrelease: cancels the gray release (status 4). Without
// one running nothing changes.
func (s *Sandbox) apiRevertGrayRelease(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.finishGrayDueLocked(who.appid) // after 15 days there is nothing left to revert
	a := cs.app(who.appid)
	if a.grayRunning() {
		a.Gray.Status = grayDeleted
		cs.touchApp(a)
		if code := cs.flush(); code != 0 {
			return nil, code
		}
	}
	return ok(), 0
}

// GET /wxa/getgrayreleaseplan → {gray_release_plan}
func (s *Sandbox) apiGrayReleasePlan(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	type plan struct {
		Status           int   `json:"status"`
		CreateTimestamp  int64 `json:"create_timestamp"`
		Percentage       int   `json:"gray_percentage"`
		ExperiencerFirst bool  `json:"support_experiencer_first"`
		DebugerFirst     bool  `json:"support_debuger_first"`
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.finishGrayDueLocked(who.appid)
	out := plan{Status: grayNone}
	if g := cs.app(who.appid).Gray; g != nil {
		out = plan{g.Status, unix(g.CreatedAt), g.Percentage, g.ExperiencerFirst, g.DebugerFirst}
	}
	return struct {
		wxError
		Plan plan `json:"gray_release_plan"`
	}{wxError{0, "ok"}, out}, 0
}

// POST /wxa/change_visitstatus {action: open|close}: 85022 for another
// action, 85021 before anything was released (nothing to open or close).
func (s *Sandbox) apiChangeVisitStatus(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req struct {
		Action string `json:"action"`
	}
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	if req.Action != "open" && req.Action != "close" {
		return nil, 85022
	}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.app(who.appid)
	if a.Online == nil {
		return nil, 85021
	}
	a.VisitClosed = req.Action == "close"
	cs.touchApp(a)
	if code := cs.flush(); code != 0 {
		return nil, code
	}
	return ok(), 0
}

// POST /wxa/getversioninfo {} → exp_info and release_info, each absent when
// there is no such version.
func (s *Sandbox) apiVersionInfo(r *http.Request, body []byte) (any, int) {
	who, code := s.codeAuthorizer(r)
	if code != 0 {
		return nil, code
	}
	var req map[string]json.RawMessage
	if code := decode(body, &req); code != 0 {
		return nil, code
	}
	type expInfo struct {
		Time    int64  `json:"exp_time"`
		Version string `json:"exp_version"`
		Desc    string `json:"exp_desc"`
	}
	type releaseInfo struct {
		Time    int64  `json:"release_time"`
		Version string `json:"release_version"`
		Desc    string `json:"release_desc"`
	}
	out := struct {
		wxError
		Exp     *expInfo     `json:"exp_info,omitempty"`
		Release *releaseInfo `json:"release_info,omitempty"`
	}{wxError: wxError{0, "ok"}}
	cs := s.code
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.finishGrayDueLocked(who.appid)
	a := cs.app(who.appid)
	if v := a.Exp; v != nil {
		out.Exp = &expInfo{unix(v.CommitTime), v.UserVersion, v.UserDesc}
	}
	if o := a.Online; o != nil {
		out.Release = &releaseInfo{unix(o.ReleasedAt), o.Version.UserVersion, o.Version.UserDesc}
	}
	return out, 0
}
