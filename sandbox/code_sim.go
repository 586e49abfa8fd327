package sandbox

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The audit simulator: every submission is decided once its delay has
// passed on the sandbox clock, by rules a user sets (POST
// /sandbox/api/audit-rules), and each decision is pushed to the app's
// message URL as weapp_audit_success, weapp_audit_fail or weapp_audit_delay
// (docs/wechat-code.md "Audit results pushed"). A background ticker decides
// as real time passes; moving the clock decides everything then due before
// the clock call answers; an API reading an app's audit decides that app's
// first, so that what the platform reads and what was pushed agree.

// codePushWorkers bounds the audit pushes in flight.
const codePushWorkers = 8

// simulateEvery is how often the simulator looks for due audits.
const simulateEvery = 250 * time.Millisecond

// systemOpenID is the FromUserName of audit pushes: WeChat's system account.
const systemOpenID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"

// auditRules decide submissions.
type auditRules struct {
	Delay        string   `json:"delay"`       // Go duration from submission to decision
	RejectRate   float64  `json:"reject_rate"` // share rejected at random
	RejectWords  []string `json:"reject_words"`
	DelayRate    float64  `json:"delay_rate"`     // share delayed once (weapp_audit_delay) before the decision
	LosePushRate float64  `json:"lose_push_rate"` // share of result pushes never sent
}

func defaultAuditRules() auditRules { return auditRules{Delay: "5s", RejectWords: []string{}} }

func (r auditRules) delay() time.Duration {
	d, _ := time.ParseDuration(r.Delay)
	return d
}

// auditRulesRequest is the body of POST /sandbox/api/audit-rules: each field
// given replaces that rule.
type auditRulesRequest struct {
	Delay        *string   `json:"delay"`
	RejectRate   *float64  `json:"reject_rate"`
	RejectWords  *[]string `json:"reject_words"`
	DelayRate    *float64  `json:"delay_rate"`
	LosePushRate *float64  `json:"lose_push_rate"`
}

func (req auditRulesRequest) apply(r *auditRules) error {
	if req.Delay != nil {
		d, err := time.ParseDuration(*req.Delay)
		if err != nil || d < 0 {
			return errors.New(`delay 须为 Go 时长，如 "5s" / delay must be a Go duration such as "5s"`)
		}
		r.Delay = *req.Delay
	}
	for _, p := range []*float64{req.RejectRate, req.DelayRate, req.LosePushRate} {
		if p != nil && (*p < 0 || *p > 1) {
			return errors.New("比例须在 0 与 1 之间 / rates must be between 0 and 1")
		}
	}
	if req.RejectRate != nil {
		r.RejectRate = *req.RejectRate
	}
	if req.DelayRate != nil {
		r.DelayRate = *req.DelayRate
	}
	if req.LosePushRate != nil {
		r.LosePushRate = *req.LosePushRate
	}
	if req.RejectWords != nil {
		r.RejectWords = slices.DeleteFunc(slices.Clone(*req.RejectWords), func(w string) bool { return w == "" })
	}
	return nil
}

// GET /sandbox/api/audit-rules
func (s *Sandbox) handleGetAuditRules(w http.ResponseWriter, r *http.Request) {
	s.code.mu.Lock()
	rules := s.code.meta.Rules
	s.code.mu.Unlock()
	writeJSON(w, http.StatusOK, rules)
}

// POST /sandbox/api/audit-rules {"delay","reject_rate","reject_words","delay_rate","lose_push_rate"}
func (s *Sandbox) handleSetAuditRules(w http.ResponseWriter, r *http.Request) {
	var req auditRulesRequest
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	cs := s.code
	cs.mu.Lock()
	rules := cs.meta.Rules
	err := req.apply(&rules)
	if err == nil {
		cs.meta.Rules = rules
		cs.touchMeta()
		if cs.flush() != 0 {
			err = errors.New("写入状态失败 / writing the state failed")
		}
	}
	cs.mu.Unlock()
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, rules)
}

// simulate decides due audits as real time passes, until the sandbox closes.
func (cs *codeState) simulate(ctx context.Context) {
	t := time.NewTicker(simulateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cs.decideAll()
		}
	}
}

// decideAll decides every audit due on the sandbox clock.
func (cs *codeState) decideAll() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	now := cs.now()
	var due []*codeAudit
	for _, au := range cs.open {
		if !au.DueAt.After(now) {
			due = append(due, au)
		}
	}
	if len(due) == 0 {
		return
	}
	slices.SortFunc(due, func(a, b *codeAudit) int { return a.DueAt.Compare(b.DueAt) })
	var jobs []pushJob
	for _, au := range due {
		jobs = append(jobs, cs.decideLocked(au, now)...)
	}
	cs.finishDecisions(jobs)
}

// decideDueLocked decides the app's latest audit if it is due. Callers hold cs.mu.
func (cs *codeState) decideDueLocked(appid string) {
	a := cs.apps[appid]
	if a == nil {
		return
	}
	au := cs.audits[a.LatestAudit]
	if au == nil || !au.open() || au.DueAt.After(cs.now()) {
		return
	}
	cs.finishDecisions(cs.decideLocked(au, cs.now()))
}

// finishDecisions writes the decisions and queues their pushes. Callers hold cs.mu.
func (cs *codeState) finishDecisions(jobs []pushJob) {
	if cs.flush() != 0 {
		return // logged; the decisions stay in memory and are written with the next change
	}
	cs.enqueue(jobs...)
}

// decideLocked decides au, and again if the delay it got is also over by
// now: each decision happens at its due time, so moving the clock by hours
// yields the same events as waiting. Callers hold cs.mu.
func (cs *codeState) decideLocked(au *codeAudit, now time.Time) []pushJob {
	var jobs []pushJob
	for au.open() && !au.DueAt.After(now) {
		if job, ok := cs.decideOnce(au, au.DueAt); ok {
			jobs = append(jobs, job)
		}
	}
	return jobs
}

// decideOnce takes one decision on au at time at: delayed (once, at
// delay_rate), rejected (a reject word in ext_json or version_desc, or at
// reject_rate) or approved. It returns the push, unless the push is lost.
func (cs *codeState) decideOnce(au *codeAudit, at time.Time) (pushJob, bool) {
	rules := cs.meta.Rules
	var x xmlDoc
	x.str("ToUserName", au.UserName)
	x.str("FromUserName", systemOpenID)
	x.num("CreateTime", cs.s.wall().Unix())
	x.str("MsgType", "event")
	var event string
	switch word := rejectWord(au, rules.RejectWords); {
	case au.DelayedAt.IsZero() && rules.DelayRate > 0 && rand.Float64() < rules.DelayRate:
		event = "weapp_audit_delay"
		au.Status, au.DelayedAt, au.DueAt = auditDelayed, at, at.Add(rules.delay())
		au.Reason = "审核延后：当前提审较多，审核将延后进行，请耐心等待。"
		x.str("Event", event)
		x.str("Reason", au.Reason)
		x.num("DelayTime", at.Unix())
	case word != "" || rules.RejectRate > 0 && rand.Float64() < rules.RejectRate:
		event = "weapp_audit_fail"
		au.Status, au.DueAt, au.DecidedAt = auditRejected, time.Time{}, at
		au.Reason = rejectReason(word)
		au.ScreenShot = "sandbox_media_" + randomToken(12) + "|sandbox_media_" + randomToken(12)
		x.str("Event", event)
		x.str("Reason", au.Reason)
		x.num("FailTime", at.Unix())
		x.str("ScreenShot", au.ScreenShot)
	default:
		event = "weapp_audit_success"
		au.Status, au.DueAt, au.DecidedAt, au.Reason = auditApproved, time.Time{}, at, ""
		x.str("Event", event)
		x.num("SuccTime", at.Unix())
	}
	if !au.open() {
		delete(cs.open, au.ID)
	}
	cs.touchAudit(au)
	lost := rules.LosePushRate > 0 && rand.Float64() < rules.LosePushRate
	a := cs.app(au.AppID)
	a.Events = append(a.Events, codeEvent{Event: event, AuditID: au.ID, At: at, Lost: lost})
	if n := len(a.Events) - codeEventLimit; n > 0 {
		a.Events = slices.Delete(a.Events, 0, n)
	}
	cs.touchApp(a)
	comp := cs.s.byID[au.Component]
	if lost || comp == nil {
		return pushJob{}, false
	}
	return pushJob{comp: comp, kind: kindMessage, appID: au.AppID, toUser: au.UserName, event: event, plain: x.bytes()}, true
}

// rejectWord returns the first reject word in the submission's ext_json or
// version_desc, "" when there is none.
func rejectWord(au *codeAudit, words []string) string {
	for _, w := range words {
		if strings.Contains(au.Version.ExtJSON, w) || strings.Contains(au.VersionDesc, w) {
			return w
		}
	}
	return ""
}

// rejectReason is a rejection as WeChat words them: numbered points
// separated by <br>.
func rejectReason(word string) string {
	if word != "" {
		return "1:小程序页面或版本描述中含有违规内容“" + word + "”，不符合《微信小程序平台运营规范》。<br>2:请修改相关内容后重新提交审核。"
	}
	return "1:小程序部分页面内容空白或功能无法正常使用，请完善后再提交。<br>2:请确保提审版本可完整体验。"
}

// enqueue hands pushes to the workers.
func (cs *codeState) enqueue(jobs ...pushJob) {
	if len(jobs) == 0 {
		return
	}
	cs.pushMu.Lock()
	cs.pushQ = append(cs.pushQ, jobs...)
	cs.pushMu.Unlock()
	cs.wakePushers()
}

func (cs *codeState) wakePushers() {
	select {
	case cs.pushed <- struct{}{}:
	default:
	}
}

// pushWorker sends queued audit pushes until the sandbox closes, one app's
// in the order they were decided (a delay before its result). Pushes still
// queued then are dropped, like pushes lost on WeChat's side: the platform
// polls.
func (cs *codeState) pushWorker(ctx context.Context) {
	for {
		job, have, more := cs.nextPush()
		if more {
			cs.wakePushers() // another worker takes the next one
		}
		if have {
			cs.s.push(ctx, job)
			cs.pushMu.Lock()
			delete(cs.inflight, job.appID)
			cs.pushMu.Unlock()
			cs.wakePushers()
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-cs.pushed:
		}
	}
}

// nextPush takes the oldest queued push of an app with none in flight.
func (cs *codeState) nextPush() (job pushJob, have, more bool) {
	cs.pushMu.Lock()
	defer cs.pushMu.Unlock()
	for i, j := range cs.pushQ {
		if !cs.inflight[j.appID] {
			if i == 0 {
				cs.pushQ[0] = pushJob{}
				cs.pushQ = cs.pushQ[1:] // the usual case: no copying
			} else {
				cs.pushQ = slices.Delete(cs.pushQ, i, i+1)
			}
			cs.inflight[j.appID] = true
			return j, true, len(cs.pushQ) > 0
		}
	}
	return pushJob{}, false, false
}

// decidingAfter wraps the clock's control handlers: once the clock moved,
// every audit then due is decided before the answer goes out.
func (s *Sandbox) decidingAfter(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
		h(rec, r)
		s.code.decideAll()
		s.cards.mu.Lock()
		s.cards.decideAllLocked() // card reviews then due, too
		s.cards.mu.Unlock()
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
	}
}

// bufferedWriter holds an answer until it may go out.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) WriteHeader(status int)      { b.status = status }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }
