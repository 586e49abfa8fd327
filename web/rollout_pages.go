package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

var rolloutStatusTags = map[string][2]string{ // tone, label
	string(wxfleet.RolloutPending):   {"", "待开始 pending"},
	string(wxfleet.RolloutRunning):   {"warn", "进行中 running"},
	string(wxfleet.RolloutPaused):    {"bad", "已暂停 paused"},
	string(wxfleet.RolloutCompleted): {"ok", "已完成 completed"},
	string(wxfleet.RolloutCancelled): {"", "已取消 cancelled"},
	string(wxfleet.RolloutFailed):    {"bad", "失败 failed"},
}

// rolloutStatusLabel shows a rollout status as a tag, in lang.
func rolloutStatusLabel(lang, s string) template.HTML {
	if l, ok := rolloutStatusTags[s]; ok {
		return tag(l[0], bilingual(lang, l[1]))
	}
	return template.HTML(template.HTMLEscapeString(s))
}

// tag is a coloured label: tone "ok", "warn", "bad" or "".
func tag(tone, text string) template.HTML {
	return template.HTML(`<span class="tag ` + tone + `">` + template.HTMLEscapeString(text) + `</span>`)
}

// rolloutsPage lists the platform's rollouts, newest first, filtered by
// status and template as GET /api/v1/rollouts is, paged by the last id shown.
func (s *Server) rolloutsPage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	p, err := s.Store.Platform(r.Context(), comp)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	f, err := rolloutFilter(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/rollouts")
		return
	}
	f.Limit = rolloutsPageSize
	rs, err := s.Store.ListRollouts(r.Context(), comp, f)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	items := make([]rolloutJSON, 0, len(rs))
	for _, ro := range rs {
		st, err := s.Rollouts.Get(r.Context(), comp, ro.ID)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/")
			return
		}
		items = append(items, toRolloutJSON(st))
	}
	data := map[string]any{"Title": "发布任务 Rollouts", "Platform": comp, "PlatformName": p.Name, "Items": items,
		"Status": string(f.Status), "Statuses": rolloutStatuses, "TemplateID": r.URL.Query().Get("template_id"),
		"Filtered": f.Status != "" || f.TemplateID != 0}
	if len(rs) == rolloutsPageSize {
		q := r.URL.Query()
		q.Set("platform", comp)
		q.Set("cursor", strconv.FormatInt(rs[len(rs)-1].ID, 10))
		data["NextQuery"] = template.URL("?" + q.Encode())
	}
	s.render(w, r, http.StatusOK, "rollouts", data)
}

// rolloutsPageSize is how many rollouts one page of /rollouts shows.
const rolloutsPageSize = 50

// rolloutStatuses are the status filter's choices, in a rollout's order,
// with their labels ("中文 English").
var rolloutStatuses = func() [][2]string {
	var out [][2]string
	for _, st := range []wxfleet.RolloutStatus{wxfleet.RolloutPending, wxfleet.RolloutRunning, wxfleet.RolloutPaused,
		wxfleet.RolloutCompleted, wxfleet.RolloutCancelled, wxfleet.RolloutFailed} {
		out = append(out, [2]string{string(st), rolloutStatusTags[string(st)][1]})
	}
	return out
}()

// rolloutPage shows one rollout; its script follows rolloutEvents live.
func (s *Server) rolloutPage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/rollouts")
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/rollouts")
		return
	}
	st, err := s.Rollouts.Get(r.Context(), comp, id)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/rollouts")
		return
	}
	v := toRolloutJSON(st)
	c := v.Counts
	done := c.Released + c.Rejected + c.Failed + c.Skipped + c.Cancelled
	pct := 0
	if c.Total > 0 {
		pct = done * 100 / c.Total
	}
	var problems []*wxfleet.RolloutApp
	for _, state := range []wxfleet.AppState{wxfleet.AppRejected, wxfleet.AppFailed} {
		apps, err := s.Store.RolloutApps(r.Context(), comp, id, store.RolloutAppFilter{State: state, Cohort: -1, Limit: 100})
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/rollouts")
			return
		}
		problems = append(problems, apps...)
	}
	s.render(w, r, http.StatusOK, "rollout", map[string]any{
		"Title": fmt.Sprintf("发布任务 Rollout #%d", id), "Platform": comp, "R": v, "Done": done, "Percent": pct,
		"Cohort": min(v.Cohort+1, max(v.Cohorts, 1)), "Problems": problems,
	})
}

// rolloutEvents streams a rollout's status as server-sent events: one event
// when it changes (checked every second), until it is final or the browser
// goes away.
func (s *Server) rolloutEvents(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if _, err := s.Rollouts.Get(r.Context(), comp, id); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	last := ""
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		st, err := s.Rollouts.Get(r.Context(), comp, id)
		if err != nil {
			return
		}
		b, _ := json.Marshal(toRolloutJSON(st))
		if string(b) != last {
			// A long-lived stream: each write gets its own deadline.
			rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			last = string(b)
		}
		if st.Status.Final() {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
