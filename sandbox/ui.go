package sandbox

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

func parseTemplates() (*template.Template, error) {
	t, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("sandbox: templates: %w", err)
	}
	return t, nil
}

// render executes a template into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (s *Sandbox) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("rendering page", "template", name, "err", err)
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// localTime shows a time in UTC+8, the zone WeChat's users read times in. A
// fixed zone needs no tzdata on the machine.
func localTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05")
}

// Views for the home page.
type (
	homeView struct {
		Clock          clockView
		ClockLocal     string
		Components     []componentRow
		Apps           []appRow
		Authorized     []option
		Outbox         []outboxRow
		Pushes         []pushRow
		Flash          string
		Check          *checkResult
		MultiComponent bool
		MoreApps       int // accounts past homeAppLimit, not shown
	}
	componentRow struct {
		AppID, Name, PlatformURL, TicketAt string
		Tickets                            int
	}
	appRow struct {
		AppID, Nickname, UserName, PrincipalName, Icon, Kind string
		Hidden                                               bool
		Auth                                                 []authCell
	}
	authCell struct {
		AppID, ComponentAppID, ComponentName, At, Funcs string
		Authorized, Revoked                             bool
	}
	option    struct{ Value, Label string }
	outboxRow struct{ At, AppID, ToUser, MsgType, Content string }
	pushRow   struct {
		At, Event, AppID, Error string
		Done, OK                bool
	}
)

// homeAppLimit bounds the accounts the home page lists: a fleet made in bulk
// has 100,000 (GET /sandbox/api/apps lists them all).
const homeAppLimit = 200

// GET / and GET /sandbox/: what the sandbox knows, with small forms.
func (s *Sandbox) handleHome(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "home.html", s.homeView(r.URL.Query().Get("flash"), nil))
}

func (s *Sandbox) homeView(flash string, check *checkResult) homeView {
	v := homeView{Clock: s.clockView(), ClockLocal: localTime(s.now()), Flash: flash, Check: check,
		MultiComponent: len(s.comps) > 1}
	for _, c := range s.comps {
		row := componentRow{AppID: c.AppID, Name: c.Name, PlatformURL: s.platformBase(c)}
		s.mu.Lock()
		if t := s.st.ensureComponent(c.AppID).Tickets; len(t) > 0 {
			row.TicketAt, row.Tickets = localTime(t[len(t)-1].IssuedAt), len(t)
		}
		s.mu.Unlock()
		v.Components = append(v.Components, row)
	}
	s.mu.Lock()
	for _, id := range s.st.order {
		a := s.st.account(id)
		if len(v.Apps) == homeAppLimit {
			v.MoreApps = len(s.st.order) - homeAppLimit
			break
		}
		kind := "公众号"
		if a.MiniProgram {
			kind = "小程序"
		}
		row := appRow{AppID: a.AppID, Nickname: a.Nickname, UserName: a.UserName, PrincipalName: a.PrincipalName,
			Icon: iconURL("", a.AppID), Kind: kind, Hidden: a.Hidden}
		for _, c := range s.comps {
			cell := authCell{AppID: a.AppID, ComponentAppID: c.AppID, ComponentName: c.Name}
			if authz := s.st.ensureComponent(c.AppID).Authorizations[a.AppID]; authz != nil {
				cell.Authorized, cell.Revoked = authz.Authorized, !authz.Authorized
				cell.At = localTime(authz.AuthorizedAt)
				ids := make([]string, len(authz.FuncInfo))
				for i, id := range authz.FuncInfo {
					ids[i] = strconv.Itoa(id)
				}
				cell.Funcs = strings.Join(ids, ",")
				if authz.Authorized {
					label := a.Nickname + " (" + a.AppID + ")"
					if v.MultiComponent {
						label += " → " + c.Name
					}
					v.Authorized = append(v.Authorized, option{a.AppID + " " + c.AppID, label})
				}
			}
			row.Auth = append(row.Auth, cell)
		}
		v.Apps = append(v.Apps, row)
	}
	for i := len(s.st.Outbox) - 1; i >= 0 && len(v.Outbox) < 20; i-- {
		e := s.st.Outbox[i]
		v.Outbox = append(v.Outbox, outboxRow{localTime(e.At), e.AppID, e.ToUser, e.MsgType, e.Content})
	}
	s.mu.Unlock()
	for _, p := range s.recentPushes(20) {
		v.Pushes = append(v.Pushes, pushRow{localTime(p.At), p.Event, p.AppID, p.Error, p.Done, p.OK})
	}
	return v
}

// back redirects to the home page with a one-line flash message (Post/
// Redirect/Get, so reloading the page does not repeat the action).
func back(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, "/sandbox/?flash="+url.QueryEscape(msg), http.StatusSeeOther)
}

// POST /sandbox/ui/ticket
func (s *Sandbox) handleUITicket(w http.ResponseWriter, r *http.Request) {
	c, err := s.componentFor(r.FormValue("component_appid"))
	if err != nil {
		back(w, r, err.Error())
		return
	}
	_, res := s.pushTicket(r.Context(), c)
	if res.OK {
		back(w, r, "已推送 component_verify_ticket，平台已确认 · ticket pushed and acknowledged")
		return
	}
	back(w, r, "ticket 推送失败 · ticket push failed: "+pushOutcome("component_verify_ticket", res))
}

// POST /sandbox/ui/clock
func (s *Sandbox) handleUIClock(w http.ResponseWriter, r *http.Request) {
	if err := s.moveClock(r.Context(), r.FormValue("advance"), r.FormValue("reset") != ""); err != nil {
		back(w, r, "时钟未改变 · clock unchanged: "+err.Error())
		return
	}
	back(w, r, "沙箱时钟现在是 · sandbox clock is now "+localTime(s.now()))
}

// POST /sandbox/ui/message: target is "appid component_appid".
func (s *Sandbox) handleUIMessage(w http.ResponseWriter, r *http.Request) {
	appid, comp, _ := strings.Cut(r.FormValue("target"), " ")
	res, _, err := s.sendUserMessage(r.Context(), appid, userMessage{ComponentAppID: comp, Content: r.FormValue("content")})
	if err != nil {
		back(w, r, "消息未发送 · not sent: "+err.Error())
		return
	}
	msg := fmt.Sprintf("已发送，平台回复 HTTP %d · sent, platform answered HTTP %d %q", res.Status, res.Status, truncate(res.Reply, 80))
	if res.Error != "" {
		msg = "消息推送失败 · push failed: " + res.Error
	}
	back(w, r, msg)
}

// POST /sandbox/ui/unauthorize
func (s *Sandbox) handleUIUnauthorize(w http.ResponseWriter, r *http.Request) {
	appid := r.FormValue("appid")
	c, err := s.componentFor(r.FormValue("component_appid"))
	if err == nil {
		_, err = s.unauthorize(r.Context(), c, appid)
	}
	if err != nil {
		back(w, r, "未取消授权 · not revoked: "+err.Error())
		return
	}
	back(w, r, "已取消授权并推送 unauthorized · revoked "+appid)
}

// POST /sandbox/ui/release-check: runs the check and shows the result on the
// home page directly.
func (s *Sandbox) handleUIReleaseCheck(w http.ResponseWriter, r *http.Request) {
	c, err := s.componentFor(r.FormValue("component_appid"))
	if err != nil {
		back(w, r, err.Error())
		return
	}
	res := s.releaseCheck(r.Context(), c, "")
	s.render(w, http.StatusOK, "home.html", s.homeView("", &res))
}
