package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// The control API under /sandbox/api/ drives the sandbox from tests and
// scripts: JSON in and out, no authentication (it is a local test double),
// errors as {"error":"..."} with a 4xx status.

// errorBody is the control API's error shape.
type errorBody struct {
	Error string `json:"error"`
}

func writeControlError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, errorBody{err.Error()})
}

// readControl decodes an optional JSON body: an empty body leaves v as is.
func readControl(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("body is not valid JSON: %w", err)
	}
	return nil
}

// appItem is an account as GET /sandbox/api/apps lists it.
type appItem struct {
	AppID         string     `json:"appid"`
	Nickname      string     `json:"nickname"`
	UserName      string     `json:"user_name"`
	PrincipalName string     `json:"principal_name"`
	HeadImg       string     `json:"head_img"`
	IsMiniProgram bool       `json:"is_mini_program"`
	Categories    []category `json:"categories"`
}

// appDetail is GET /sandbox/api/apps/{appid}: the item, the account's other
// fields, one authorization entry per configured component, and the first
// component's state at top level for convenience.
type appDetail struct {
	appItem
	Alias          string      `json:"alias"`
	Signature      string      `json:"signature"`
	ServiceType    int         `json:"service_type"`
	Hidden         bool        `json:"hidden"`
	Authorizations []authzView `json:"authorizations"`
	Authorized     bool        `json:"authorized"`
	RefreshToken   string      `json:"authorizer_refresh_token"`
	DefaultOpenID  string      `json:"default_openid"`
	OpenIDs        []string    `json:"openids"`
}

type authzView struct {
	ComponentAppID   string `json:"component_appid"`
	Authorized       bool   `json:"authorized"`
	RefreshToken     string `json:"authorizer_refresh_token"`
	AccessToken      string `json:"authorizer_access_token"`
	AccessTokenUntil string `json:"authorizer_access_token_expires_at,omitempty"`
	FuncInfo         []int  `json:"func_info"`
	AuthorizedAt     string `json:"authorized_at,omitempty"`
	RevokedAt        string `json:"revoked_at,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

func (s *Sandbox) appItem(a *account, base string) appItem {
	cats := a.Categories
	if cats == nil {
		cats = []category{}
	}
	return appItem{AppID: a.AppID, Nickname: a.Nickname, UserName: a.UserName, PrincipalName: a.PrincipalName,
		HeadImg: iconURL(base, a.AppID), IsMiniProgram: a.MiniProgram, Categories: cats}
}

// GET /sandbox/api/apps
func (s *Sandbox) handleListApps(w http.ResponseWriter, r *http.Request) {
	base := s.publicURL(r)
	items := []appItem{}
	s.mu.Lock()
	for _, id := range s.st.order {
		if a := s.st.account(id); !a.Hidden {
			items = append(items, s.appItem(a, base))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Items []appItem `json:"items"`
	}{items})
}

// GET /sandbox/api/apps/{appid}
func (s *Sandbox) handleGetApp(w http.ResponseWriter, r *http.Request) {
	d, ok := s.appDetail(r.PathValue("appid"), s.publicURL(r))
	if !ok {
		writeControlError(w, http.StatusNotFound, fmt.Errorf("unknown appid %q", r.PathValue("appid")))
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Sandbox) appDetail(appid, base string) (appDetail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.st.account(appid)
	if a == nil {
		return appDetail{}, false
	}
	d := appDetail{appItem: s.appItem(a, base), Alias: a.Alias, Signature: a.Signature,
		ServiceType: a.ServiceType, Hidden: a.Hidden, Authorizations: []authzView{}, OpenIDs: []string{}}
	for _, c := range s.comps {
		v := authzView{ComponentAppID: c.AppID, FuncInfo: []int{}}
		if authz := s.st.ensureComponent(c.AppID).Authorizations[appid]; authz != nil {
			v.Authorized = authz.Authorized
			v.RefreshToken = authz.RefreshToken
			if n := len(authz.AccessTokens); n > 0 {
				last := authz.AccessTokens[n-1]
				v.AccessToken, v.AccessTokenUntil = last.Value, rfc3339(last.IssuedAt.Add(tokenTTL))
			}
			v.FuncInfo = slices.Clone(authz.FuncInfo)
			v.AuthorizedAt, v.RevokedAt = rfc3339(authz.AuthorizedAt), rfc3339(authz.RevokedAt)
		}
		d.Authorizations = append(d.Authorizations, v)
	}
	d.Authorized, d.RefreshToken = d.Authorizations[0].Authorized, d.Authorizations[0].RefreshToken
	if u := s.st.Users[appid]; u != nil {
		d.DefaultOpenID = u.Default
		d.OpenIDs = slices.Sorted(maps.Keys(u.Seen))
	}
	return d, true
}

// POST /sandbox/api/authorize {"url","appid","func"}: the admin's confirmation
// without a browser, with the page's validation and push.
func (s *Sandbox) handleControlAuthorize(w http.ResponseWriter, r *http.Request) {
	var body struct {
		URL   string `json:"url"`
		AppID string `json:"appid"`
		Func  []int  `json:"func"`
	}
	if err := readControl(r, &body); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	redirect, err := s.authorizeURL(r.Context(), body.URL, body.AppID, body.Func)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		RedirectURL string `json:"redirect_url"`
	}{redirect})
}

// authorizeURL confirms an authorization link for appid and starts the push.
func (s *Sandbox) authorizeURL(ctx context.Context, link, appid string, funcs []int) (string, error) {
	u, err := url.Parse(link)
	if err != nil || !isAuthPagePath(u.Path) {
		return "", errors.New("url must be a WeChat authorization link (path " + pathLoginPage + ", " +
			pathBindComponent + " or " + pathBindOld + ")")
	}
	req, perr := s.parseAuthRequest(u.Query())
	if perr != nil {
		return "", perr
	}
	redirect, job, perr := s.confirm(ctx, req, appid, funcs)
	if perr != nil {
		return "", perr
	}
	s.pushAsync(job)
	return redirect, nil
}

// authorizedComponent picks the component a control call about appid means:
// the named one, else the first the app is authorized to, else the first.
func (s *Sandbox) authorizedComponent(appid, componentAppID string) (*component, error) {
	if componentAppID != "" {
		return s.componentFor(componentAppID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.comps {
		if authz := s.st.ensureComponent(c.AppID).Authorizations[appid]; authz != nil && authz.Authorized {
			return c, nil
		}
	}
	return s.defaultComponent(), nil
}

// errNotAuthorized is returned by control calls that need an authorization.
var errNotAuthorized = errors.New("the app is not authorized to this component")

// POST /sandbox/api/apps/{appid}/unauthorize {"component_appid"}
func (s *Sandbox) handleUnauthorize(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ComponentAppID string `json:"component_appid"`
	}
	if err := readControl(r, &body); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	appid := r.PathValue("appid")
	if s.account(appid) == nil {
		writeControlError(w, http.StatusNotFound, fmt.Errorf("unknown appid %q", appid))
		return
	}
	c, err := s.authorizedComponent(appid, body.ComponentAppID)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	res, err := s.unauthorize(r.Context(), c, appid)
	if err != nil {
		writeControlError(w, http.StatusConflict, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		OK     bool   `json:"ok"`
		Status int    `json:"status"`
		Error  string `json:"error,omitempty"`
	}{true, res.Status, errString(res)})
}

// unauthorize revokes an authorization as the admin would in WeChat's
// settings: tokens and refresh token die at once, then the unauthorized push
// goes out (synchronously, so a caller knows the platform has heard it).
func (s *Sandbox) unauthorize(ctx context.Context, c *component, appid string) (pushResult, error) {
	s.mu.Lock()
	authz := s.st.ensureComponent(c.AppID).Authorizations[appid]
	if authz == nil || !authz.Authorized {
		s.mu.Unlock()
		return pushResult{}, errNotAuthorized
	}
	s.revokeLocked(authz, s.now())
	s.mu.Unlock()
	s.waitDurable(ctx)
	return s.push(ctx, s.unauthEvent(c, appid)), nil
}

func errString(res pushResult) string {
	if res.Err != nil {
		return res.Err.Error()
	}
	return ""
}

// userMessage is the body of POST /sandbox/api/apps/{appid}/user-message
// (and of the older /messages): what a simulated user sends (usermsg.go).
type userMessage struct {
	ComponentAppID string `json:"component_appid"`
	OpenID         string `json:"openid"`
	MsgType        string `json:"msgtype"` // text (default), image, miniprogrampage, event
	Content        string `json:"content"`
	PicURL         string `json:"pic_url"`
	Title          string `json:"title"`
	PagePath       string `json:"pagepath"`
	ThumbURL       string `json:"thumb_url"`
	Event          string `json:"event"`
	SessionFrom    string `json:"session_from"`
}

// messageResult is what the platform answered to a user message.
type messageResult struct {
	OpenID     string `json:"openid"`
	MsgID      int64  `json:"msg_id,omitempty"`
	MediaID    string `json:"media_id,omitempty"` // an image's MediaId, a card's ThumbMediaId
	Status     int    `json:"status"`
	Reply      string `json:"reply"`
	ReplyPlain string `json:"reply_plain,omitempty"` // the decrypted passive reply, if it was one
	Error      string `json:"error,omitempty"`
}

// POST /sandbox/api/apps/{appid}/user-message (and /messages)
func (s *Sandbox) handleUserMessage(w http.ResponseWriter, r *http.Request) {
	var body userMessage
	if err := readControl(r, &body); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	res, status, err := s.sendUserMessage(r.Context(), r.PathValue("appid"), body)
	if err != nil {
		writeControlError(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// GET /sandbox/api/outbox?appid=
func (s *Sandbox) handleOutbox(w http.ResponseWriter, r *http.Request) {
	type item struct {
		ComponentAppID string          `json:"component_appid"`
		AppID          string          `json:"appid"`
		ToUser         string          `json:"touser"`
		MsgType        string          `json:"msgtype"`
		Content        string          `json:"content"`
		Body           json.RawMessage `json:"body"`
		At             string          `json:"at"`
	}
	appid := r.URL.Query().Get("appid")
	items := []item{}
	s.mu.Lock()
	for _, e := range s.st.Outbox {
		if appid == "" || e.AppID == appid {
			items = append(items, item{e.ComponentAppID, e.AppID, e.ToUser, e.MsgType, e.Content, e.Body, rfc3339(e.At)})
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Items []item `json:"items"`
	}{items})
}

// POST /sandbox/api/ticket {"component_appid"}: push a ticket now and wait
// for the platform's answer.
func (s *Sandbox) handleTicket(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ComponentAppID string `json:"component_appid"`
	}
	if err := readControl(r, &body); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	c, err := s.componentFor(body.ComponentAppID)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	ticket, res := s.pushTicket(r.Context(), c)
	writeJSON(w, http.StatusOK, struct {
		Ticket string `json:"ticket"`
		Status int    `json:"status"`
		OK     bool   `json:"ok"`
		Error  string `json:"error,omitempty"`
	}{ticket, res.Status, res.OK, errString(res)})
}

// GET /sandbox/api/components: the configured components and their latest ticket.
func (s *Sandbox) handleComponents(w http.ResponseWriter, r *http.Request) {
	type item struct {
		AppID          string `json:"component_appid"`
		Name           string `json:"name"`
		PlatformURL    string `json:"platform_url"`
		AuthDomain     string `json:"auth_domain"` // 授权发起页域名; "" when any domain is accepted
		LatestTicket   string `json:"latest_ticket,omitempty"`
		TicketIssuedAt string `json:"ticket_issued_at,omitempty"`
	}
	items := []item{}
	for _, c := range s.comps {
		it := item{AppID: c.AppID, Name: c.Name, PlatformURL: s.platformBase(c), AuthDomain: s.authDomain(c)}
		s.mu.Lock()
		if t := s.st.ensureComponent(c.AppID).Tickets; len(t) > 0 {
			it.LatestTicket, it.TicketIssuedAt = t[len(t)-1].Value, rfc3339(t[len(t)-1].IssuedAt)
		}
		s.mu.Unlock()
		items = append(items, it)
	}
	writeJSON(w, http.StatusOK, struct {
		Items []item `json:"items"`
	}{items})
}

// clockView is the answer of the clock API.
type clockView struct {
	Now    string `json:"now"`
	Offset string `json:"offset"`
}

func (s *Sandbox) clockView() clockView {
	return clockView{Now: s.now().Format(time.RFC3339), Offset: time.Duration(s.offset.Load()).String()}
}

// GET /sandbox/api/clock
func (s *Sandbox) handleGetClock(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.clockView())
}

// POST /sandbox/api/clock {"advance":"2h"} or {"reset":true}
func (s *Sandbox) handleSetClock(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Advance string `json:"advance"`
		Reset   bool   `json:"reset"`
	}
	if err := readControl(r, &body); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	if err := s.moveClock(r.Context(), body.Advance, body.Reset); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, s.clockView())
}

// moveClock advances the sandbox clock by a Go duration (negative moves it
// back), or resets it to the wall clock. Moving it forward by a ticket
// interval or more simulates the time in between the way the platform
// sees it: WeChat would have pushed a component_verify_ticket every
// interval, so the latest of them is pushed to every component before
// moveClock returns, and the platform's ticket stays valid (the earlier ones
// would have expired by now or been superseded; a platform keeps the
// latest).
func (s *Sandbox) moveClock(ctx context.Context, advance string, reset bool) error {
	if reset {
		s.offset.Store(0)
		s.touchMeta()
		return nil
	}
	d, err := time.ParseDuration(advance)
	if err != nil {
		return errors.New(`advance must be a Go duration such as "2h1m"`)
	}
	s.offset.Add(int64(d))
	s.touchMeta()
	if d >= s.interval {
		s.pushTicketsToAll(ctx)
	}
	return nil
}

// GET /sandbox/api/faults
func (s *Sandbox) handleListFaults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	items := make([]fault, 0, len(s.faults))
	for _, f := range s.faults {
		items = append(items, *f)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		Items []fault `json:"items"`
	}{items})
}

// POST /sandbox/api/faults
func (s *Sandbox) handleAddFault(w http.ResponseWriter, r *http.Request) {
	var body faultRequest
	if err := readControl(r, &body); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	f, err := body.fault()
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	s.mu.Lock()
	s.nextFault++
	f.ID = s.nextFault
	s.faults = append(s.faults, f)
	out := *f
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// DELETE /sandbox/api/faults
func (s *Sandbox) handleClearFaults(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		OK bool `json:"ok"`
	}{true})
}

// GET /sandbox/api/pushes?limit=: the newest pushes first.
func (s *Sandbox) handlePushes(w http.ResponseWriter, r *http.Request) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		limit = 50
	}
	writeJSON(w, http.StatusOK, struct {
		Items []pushRecord `json:"items"`
	}{s.recentPushes(limit)})
}

func (s *Sandbox) recentPushes(limit int) []pushRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := []pushRecord{}
	for i := len(s.pushes) - 1; i >= 0 && len(items) < limit; i-- {
		items = append(items, *s.pushes[i])
	}
	return items
}

// POST /sandbox/api/release-check {"component_appid","appid"} (both optional)
func (s *Sandbox) handleReleaseCheck(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ComponentAppID string `json:"component_appid"`
		AppID          string `json:"appid"`
	}
	if err := readControl(r, &body); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	c, err := s.componentFor(body.ComponentAppID)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	if body.AppID != "" && body.AppID != TestOfficialAccount && body.AppID != TestMiniProgram {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("appid must be one of WeChat's test accounts %s or %s", TestOfficialAccount, TestMiniProgram))
		return
	}
	writeJSON(w, http.StatusOK, s.releaseCheck(r.Context(), c, body.AppID))
}
