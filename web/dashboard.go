package web

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/token"
)

// chartMinutes is how far back the dashboard's pushes chart looks.
const chartMinutes = 60

// dashPlatform is one platform's card on the dashboard.
type dashPlatform struct {
	platformJSON
	Statuses    []statusCount
	Authorizers int
	Tokens      store.TokenHealth
	PauseReason string
	PausedUntil *time.Time
	NextRefresh *time.Time // a margin before the earliest access-token expiry
	Pushes      int        // in the chart's hour
	PushPeak    int        // the busiest minute
	Chart       template.HTML
	Rollouts    []rolloutJSON
	// MoreRollouts are the running rollouts past the first dashRollouts.
	MoreRollouts int
}

// dashRollouts is how many running rollouts a platform's card follows live:
// each costs a count query per page load and an event stream.
const dashRollouts = 10

type statusCount struct {
	Status wxfleet.AuthorizerStatus
	N      int
}

// homePage is the operator's dashboard: per platform the ticket and
// component token, authorizers by status, token health, the rollouts in
// flight (live, server-sent events), the audit quota (fetched after the
// page, so a slow WeChat never holds it up) and pushes per minute.
func (s *Server) homePage(w http.ResponseWriter, r *http.Request) {
	if a, _ := wxfleet.ActorFrom(r.Context()); a.Role == wxfleet.RoleMerchant {
		// A merchant's home is its tenant's page: the merchant portal.
		http.Redirect(w, r, fmt.Sprintf("/tenants/%d", a.TenantID), http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	ps, err := s.Store.Platforms(ctx)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	now := s.Now()
	health, err := s.Store.TokenHealth(ctx, now, token.Margin)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	pauses, err := s.Store.APIPauses(ctx, token.APIAuthorizerToken)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	running, err := s.Store.RunningRollouts(ctx)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	var cards []dashPlatform
	for _, p := range ps {
		d, err := s.dashPlatform(ctx, r, p, now)
		if err != nil {
			s.errorPage(w, r, "出错了 Error", err, "/")
			return
		}
		for _, h := range health {
			if h.ComponentAppID == p.AppID {
				d.Tokens = h
			}
		}
		for _, pa := range pauses {
			if pa.ComponentAppID == p.AppID && pa.Until.After(now) {
				d.PauseReason, d.PausedUntil = pa.Reason, timePtr(pa.Until)
			}
		}
		for _, ro := range running {
			if ro.ComponentAppID != p.AppID || s.Rollouts == nil {
				continue
			}
			if len(d.Rollouts) == dashRollouts {
				d.MoreRollouts++ // counted, not fetched: the rollouts page lists them
				continue
			}
			st, err := s.Rollouts.Get(ctx, p.AppID, ro.ID)
			if err != nil {
				s.errorPage(w, r, "出错了 Error", err, "/")
				return
			}
			d.Rollouts = append(d.Rollouts, toRolloutJSON(st))
		}
		cards = append(cards, d)
	}
	s.render(w, r, http.StatusOK, "home", map[string]any{"Title": "概览 Dashboard", "Platforms": cards, "WeChatURL": s.WeChatURL})
}

func (s *Server) dashPlatform(ctx context.Context, r *http.Request, p *wxfleet.Platform, now time.Time) (dashPlatform, error) {
	pj, err := s.platformStatus(r, p)
	if err != nil {
		return dashPlatform{}, err
	}
	d := dashPlatform{platformJSON: pj}
	counts, err := s.Store.AuthorizerStatusCounts(ctx, p.AppID)
	if err != nil {
		return d, err
	}
	for _, st := range wxfleet.AuthorizerStatuses() {
		d.Statuses = append(d.Statuses, statusCount{st, counts[st]})
		d.Authorizers += counts[st]
	}
	next, err := s.Store.NextTokenExpiry(ctx, p.AppID)
	if err != nil {
		return d, err
	}
	if !next.IsZero() {
		d.NextRefresh = timePtr(next.Add(-token.Margin))
	}
	pushes, err := s.Store.PushesPerMinute(ctx, p.AppID, now, chartMinutes)
	if err != nil {
		return d, err
	}
	for _, n := range pushes {
		d.Pushes += n
		d.PushPeak = max(d.PushPeak, n)
	}
	d.Chart = pushChart(pushes)
	return d, nil
}

// pushChart draws pushes per minute as an inline SVG bar chart: numbers
// only go into it, so it is safe HTML by construction.
func pushChart(perMinute []int) template.HTML {
	const w, h, bar = 600, 60, 10
	peak := 1
	for _, n := range perMinute {
		peak = max(peak, n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" height="%d" role="img" aria-label="每分钟推送数 pushes per minute">`, w, h, h)
	for i, n := range perMinute {
		bh := n * (h - 2) / peak
		if n > 0 && bh == 0 {
			bh = 1
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#07c160"><title>%d</title></rect>`, i*bar, h-bh, bar-2, bh, n)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// dashQuota is the dashboard's audit-quota fragment (htmx loads it after
// the page): queryquota through the rollouts' cache and pacer, asked with
// any authorized mini program's token.
func (s *Server) dashQuota(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	lang := pageLang(r)
	frag := func(class, text string) { fmt.Fprint(w, tag(class, bilingual(lang, text))) }
	comp, err := s.platform(r)
	if err != nil || s.Rollouts == nil {
		frag("warn", "未知 unknown")
		return
	}
	list, _, err := s.Store.ListAuthorizers(r.Context(), comp, store.AuthorizerFilter{Status: wxfleet.StatusAuthorized, Limit: 1})
	if err != nil || len(list) == 0 {
		frag("warn", "暂无已授权的小程序 no authorized mini program to ask with")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	rest, err := s.Rollouts.AuditQuota(ctx, comp, list[0].AppID)
	if err != nil {
		s.Logger.InfoContext(r.Context(), "dashboard: audit quota unavailable", "platform", comp, "err", err)
		frag("bad", "查询失败 unavailable: "+wxfleet.ErrorMessage(err))
		return
	}
	class := "ok"
	if rest <= 0 {
		class = "bad"
	} else if rest < 10 {
		class = "warn"
	}
	frag(class, fmt.Sprintf("本月剩余 %d 次 · %d left this month", rest, rest))
}
