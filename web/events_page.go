package web

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/store"
)

// eventsPageSize is how many pushes one page of /events shows.
const eventsPageSize = 50

// commonEventTypes are offered as suggestions in the type filter: the
// component pushes and the mini program messages and events the platform
// handles (docs/wechat-pushes.md). The filter takes any type, as the API does.
var commonEventTypes = []string{
	"component_verify_ticket", "authorized", "updateauthorized", "unauthorized", "notify_third_fasteregister",
	"weapp_audit_success", "weapp_audit_fail", "weapp_audit_delay", "wxa_nickname_audit",
	"text", "image", "miniprogrampage", "user_enter_tempsession", "subscribe_msg_popup_event",
}

// eventRow is one push as the events page lists it.
type eventRow struct {
	ID         int64
	Platform   string
	AppID      string
	Type       string
	ReceivedAt time.Time
	Summary    string
}

// eventsPage lists a platform's pushes, newest first, as GET /api/v1/events
// does: filtered by appid and type, paged by the last id shown. The total
// is shown on the first page only; later pages are reached from it.
func (s *Server) eventsPage(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	cursor, err := cursorParam(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/events")
		return
	}
	q := r.URL.Query()
	f := store.EventFilter{AppID: strings.TrimSpace(q.Get("appid")), Type: strings.TrimSpace(q.Get("type")), Limit: eventsPageSize, Cursor: cursor,
		NoCount: cursor != 0} // the total is shown on the first page only
	var events EventReader = s.Store
	if s.Events != nil { // the ingest: its reads include every acknowledged push
		events = s.Events
	}
	list, total, err := events.ListEvents(r.Context(), comp, f)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	rows := make([]eventRow, len(list))
	for i, e := range list {
		rows[i] = eventRow{ID: e.ID, Platform: e.ComponentAppID, AppID: e.AppID, Type: e.Type, ReceivedAt: e.ReceivedAt, Summary: eventSummary(e)}
	}
	data := map[string]any{"Title": "推送事件 Events", "Platform": comp, "AppID": f.AppID, "Type": f.Type, "Types": commonEventTypes,
		"Items": rows, "Total": total, "HasTotal": cursor == 0, "Filtered": f.AppID != "" || f.Type != ""}
	if len(list) == eventsPageSize {
		q.Set("platform", comp)
		q.Set("cursor", strconv.FormatInt(list[len(list)-1].ID, 10))
		data["NextQuery"] = template.URL("?" + q.Encode())
	}
	s.render(w, r, http.StatusOK, "events", data)
}

// summaryFields are the payload fields that say most about a push, in the
// order tried: a user's text, a page's title, a rejection's reason, a fast
// registration's message, the entry scene of a customer service session.
var summaryFields = []string{"Content", "Title", "Reason", "reason", "msg", "nickname", "SessionFrom", "PicUrl"}

// eventSummary is a short line about a push for the list, from the first of
// summaryFields its XML carries; "" when it has none. The receiver has
// already redacted the secrets (tickets, authorization codes) in the payload.
func eventSummary(e *wxfleet.Event) string {
	msg, err := push.ParseMessage(e.Payload)
	if err != nil {
		return ""
	}
	for _, name := range summaryFields {
		if v := strings.TrimSpace(msg.Get(name)); v != "" {
			return shorten(v, 60)
		}
	}
	return ""
}

// shorten cuts s to at most n characters (runes), marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
