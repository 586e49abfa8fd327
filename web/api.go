package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/authorization"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/token"
	"github.com/wxfleet/wxfleet/wechat"
)

// platformJSON is a platform as the API shows it: never its secrets.
type platformJSON struct {
	AppID            string     `json:"component_appid"`
	Name             string     `json:"name"`
	TicketAt         *time.Time `json:"ticket_created_at"`
	TicketAgeSeconds *int64     `json:"ticket_age_seconds"`
	TicketValid      bool       `json:"ticket_valid"`
	TokenExpiresAt   *time.Time `json:"token_expires_at"`
}

func (s *Server) platformStatus(r *http.Request, p *wxfleet.Platform) (platformJSON, error) {
	out := platformJSON{AppID: p.AppID, Name: p.Name}
	now := s.Now()
	t, err := s.Store.Ticket(r.Context(), p.AppID)
	if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		return out, err
	}
	if t != nil {
		at := t.CreateTime
		age := int64(now.Sub(at) / time.Second)
		out.TicketAt, out.TicketAgeSeconds, out.TicketValid = &at, &age, t.ValidAt(now)
	}
	tok, err := s.Store.ComponentToken(r.Context(), p.AppID)
	if err != nil && wxfleet.ErrorCode(err) != wxfleet.ENOTFOUND {
		return out, err
	}
	if tok != nil {
		exp := tok.ExpiresAt
		out.TokenExpiresAt = &exp
	}
	return out, nil
}

func (s *Server) listPlatforms(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.Store.Platforms(r.Context())
	if err != nil {
		return err
	}
	items := make([]platformJSON, 0, len(ps))
	for _, p := range ps {
		pj, err := s.platformStatus(r, p)
		if err != nil {
			return err
		}
		items = append(items, pj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// decodeBody reads an optional JSON body into v; an empty body is {}. The
// route capped the body (capBody). One JSON value and nothing after it: a
// body with trailing data is refused, so two parsers can never disagree
// about what was asked.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyErr(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return wxfleet.WrapError(wxfleet.EINVALID, "请求体不是有效的 JSON / request body is not valid JSON for this endpoint", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return wxfleet.Errorf(wxfleet.EINVALID, "请求体在 JSON 之后还有内容 / request body has data after the JSON value")
	}
	return nil
}

func (s *Server) createAuthorizationLink(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		authorization.LinkRequest
		Platform string `json:"platform"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	comp := req.Platform
	if comp == "" {
		var err error
		if comp, err = s.platform(r); err != nil {
			return err
		}
	}
	link, err := s.Auth.CreateLink(r.Context(), comp, req.LinkRequest)
	if err != nil {
		return err
	}
	auditTarget(r, comp, req.BizAppID, link.ID)
	auditDetail(r, map[string]any{"merchant": req.Merchant, "auth_type": req.AuthType})
	writeJSON(w, http.StatusCreated, link)
	return nil
}

// authorizerJSON is an authorizer as the API shows it: never its tokens.
type authorizerJSON struct {
	ComponentAppID  string                   `json:"component_appid"`
	AppID           string                   `json:"appid"`
	Nickname        string                   `json:"nickname"`
	HeadImg         string                   `json:"head_img"`
	UserName        string                   `json:"user_name"`
	PrincipalName   string                   `json:"principal_name"`
	IsMiniProgram   bool                     `json:"is_mini_program"`
	Status          wxfleet.AuthorizerStatus `json:"status"`
	Permissions     []int                    `json:"permissions"`
	PermissionNames []string                 `json:"permission_names"`
	TokenExpiresAt  *time.Time               `json:"token_expires_at"`
	TokenState      string                   `json:"token_state"`
	Merchant        string                   `json:"merchant"`
	TenantID        *int64                   `json:"tenant_id"`
	AuthorizedAt    *time.Time               `json:"authorized_at"`
	UpdatedAt       *time.Time               `json:"updated_at"`
	Info            *json.RawMessage         `json:"authorizer_info,omitempty"`
}

// tokenState summarises an authorizer's token for people. "refreshing" is
// the keeper's window: a token within token.Margin of expiry is due.
func tokenState(a *wxfleet.Authorizer, now time.Time) string {
	switch {
	case !a.Status.Usable():
		return "unusable"
	case a.AccessToken == "" || a.TokenExpiresAt.IsZero():
		return "none"
	case !now.Before(a.TokenExpiresAt):
		return "expired"
	case a.TokenExpiresAt.Sub(now) < token.Margin:
		return "refreshing"
	default:
		return "valid"
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toAuthorizerJSON(a *wxfleet.Authorizer, now time.Time, withInfo bool) authorizerJSON {
	out := authorizerJSON{
		ComponentAppID: a.ComponentAppID, AppID: a.AppID, Nickname: a.Nickname, HeadImg: a.HeadImg,
		UserName: a.UserName, PrincipalName: a.PrincipalName, IsMiniProgram: a.IsMiniProgram,
		Status: a.Status, Permissions: a.Permissions, TokenExpiresAt: timePtr(a.TokenExpiresAt),
		TokenState: tokenState(a, now), Merchant: a.Merchant,
		AuthorizedAt: timePtr(a.AuthorizedAt), UpdatedAt: timePtr(a.UpdatedAt),
	}
	if a.TenantID != 0 {
		id := a.TenantID
		out.TenantID = &id
	}
	if out.Permissions == nil {
		out.Permissions = []int{}
	}
	out.PermissionNames = make([]string, len(out.Permissions))
	for i, id := range out.Permissions {
		out.PermissionNames[i] = wxfleet.PermissionName(id)
	}
	if withInfo && json.Valid(a.Info) {
		raw := json.RawMessage(a.Info)
		out.Info = &raw
	}
	return out
}

// limit parses ?limit=, default def, at most max.
func limit(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, wxfleet.Errorf(wxfleet.EINVALID, "limit 必须是 1 到 %d 之间的整数 / limit must be an integer from 1 to %d", max, max)
	}
	return n, nil
}

// cursorParam parses ?cursor=, the next_cursor (an id) a previous page of
// a list newest first gave; 0 when absent: the first page.
func cursorParam(r *http.Request) (int64, error) {
	c := r.URL.Query().Get("cursor")
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil || n < 1 {
		return 0, wxfleet.Errorf(wxfleet.EINVALID, "cursor 必须是上一页返回的 next_cursor / cursor must be a next_cursor from a previous page")
	}
	return n, nil
}

func (s *Server) listAuthorizers(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	n, err := limit(r, 100, 500)
	if err != nil {
		return err
	}
	f, err := authorizerFilter(r)
	if err != nil {
		return err
	}
	count, err := wantTotal(r)
	if err != nil {
		return err
	}
	f.Limit, f.Total = n, count
	list, total, err := s.Store.ListAuthorizers(r.Context(), comp, f)
	if err != nil {
		return err
	}
	now := s.Now()
	items := make([]authorizerJSON, 0, len(list))
	for _, a := range list {
		items = append(items, toAuthorizerJSON(a, now, false))
	}
	resp := map[string]any{"items": items}
	if count {
		resp["total"] = total
	}
	if len(list) == n {
		resp["next_cursor"] = list[len(list)-1].AppID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// authorizerFilter reads the authorizer list's ?status=, ?tenant_id=,
// ?tag=, ?q= and ?cursor= (the API's and the console's).
func authorizerFilter(r *http.Request) (store.AuthorizerFilter, error) {
	q := r.URL.Query()
	f := store.AuthorizerFilter{Cursor: q.Get("cursor"), Tag: strings.TrimSpace(q.Get("tag")), Query: strings.TrimSpace(q.Get("q"))}
	var err error
	if v := q.Get("status"); v != "" {
		if f.Status, err = wxfleet.ParseAuthorizerStatus(v); err != nil {
			return f, err
		}
	}
	if f.TenantID, err = tenantIDParam(r); err != nil {
		return f, err
	}
	if utf8.RuneCountInString(f.Query) > 64 || utf8.RuneCountInString(f.Tag) > 64 {
		return f, wxfleet.Errorf(wxfleet.EINVALID, "q 与 tag 最长 64 个字符 / q and tag are at most 64 characters")
	}
	return f, nil
}

// wantTotal reads ?total= of the authorizer list: the count of every match
// is a COUNT(*) over the platform's authorizers, so it is made on the first
// page (no cursor), where clients show it, and on later pages only when
// asked (total=true); total=false skips it on the first page too.
func wantTotal(r *http.Request) (bool, error) {
	switch r.URL.Query().Get("total") {
	case "":
		return r.URL.Query().Get("cursor") == "", nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, wxfleet.Errorf(wxfleet.EINVALID, "total 须为 true 或 false / total must be true or false")
}

func (s *Server) getAuthorizer(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	a, err := s.Store.Authorizer(r.Context(), comp, r.PathValue("appid"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAuthorizerJSON(a, s.Now(), true))
	return nil
}

// getAccessToken is the central token service (中控): the ISV's other systems
// ask here instead of refreshing tokens themselves and invalidating each other's.
func (s *Server) getAccessToken(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	appID := r.PathValue("appid")
	tok, err := s.Keeper.AuthorizerToken(r.Context(), comp, appID)
	if err != nil {
		return err
	}
	a, err := s.Store.Authorizer(r.Context(), comp, appID)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"appid":        appID,
		"access_token": tok,
		"expires_at":   a.TokenExpiresAt,
		"expires_in":   int64(a.TokenExpiresAt.Sub(s.Now()) / time.Second),
	})
	return nil
}

// forward passes any WeChat API call through with the authorizer's token, so
// a new WeChat API needs no release of wxfleet.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	path, err := forwardPath(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body) // capped by the route
	if err != nil {
		return bodyErr(err)
	}
	query := r.URL.Query()
	query.Del("platform")
	_, resp, err := s.forwardFor(r.Context(), r, comp, r.PathValue("appid"), r.Method, path, query, body)
	if err != nil {
		return err
	}
	if resp.ContentType != "" {
		w.Header().Set("Content-Type", resp.ContentType)
	}
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
	return nil
}

// forwardFor sends a checked forward (the path already passed
// checkForwardSegments) for an authorized app with its token, recording the
// app, the method and the path in r's audit entry (never the body: it may
// carry anything). The API's forward and the console's WeChat call share it.
func (s *Server) forwardFor(ctx context.Context, r *http.Request, comp, appID, method, path string, query url.Values, body []byte) (*wxfleet.Authorizer, *wechat.Response, error) {
	a, err := s.Store.Authorizer(ctx, comp, appID)
	if err != nil {
		return nil, nil, err
	}
	if err := a.Status.Unusable(appID); err != nil {
		return a, nil, err
	}
	auditTarget(r, comp, appID, "")
	auditDetail(r, map[string]any{"path": path, "method": method})
	resp, err := s.WeChat.Forward(ctx, s.Keeper.ForwardSource(comp, appID, path), method, path, query, body)
	if err != nil {
		return a, nil, forwardError(err)
	}
	return a, resp, nil
}

// forwardError is the answer to a forward that failed before WeChat's answer
// could be passed on: the keeper's reason when it gave one (refresh refused,
// reauthorization needed), and in any case the WeChat API that refused the
// platform's own call and its errcode, so that an operator tells an expired
// ticket from a revoked authorization without reading the logs.
func forwardError(err error) error {
	code, msg := wxfleet.EUNAVAILABLE, "转发到微信失败 / forwarding to WeChat failed"
	var coded *wxfleet.Error
	if errors.As(err, &coded) {
		code, msg = coded.Code, coded.Message
	}
	var wx *wechat.Error
	if !errors.As(err, &wx) {
		if coded != nil {
			return err
		}
		return wxfleet.WrapError(code, msg, err)
	}
	zh := fmt.Sprintf("（微信接口 %s 返回 errcode %d）", wx.Path, wx.Code)
	en := fmt.Sprintf(" (WeChat's %s answered errcode %d: %s, rid %s)", wx.Path, wx.Code, wx.Message, wx.RID)
	if before, after, ok := strings.Cut(msg, " / "); ok {
		return wxfleet.WrapError(code, before+zh+" / "+after+en, err)
	}
	return wxfleet.WrapError(code, msg+zh+en, err)
}

type eventJSON struct {
	ID             int64      `json:"id"`
	ComponentAppID string     `json:"component_appid"`
	AppID          string     `json:"appid"`
	Type           string     `json:"type"`
	CreateTime     *time.Time `json:"create_time"`
	ReceivedAt     time.Time  `json:"received_at"`
	Payload        string     `json:"payload"`
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	n, err := limit(r, 50, 500)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	cursor, err := cursorParam(r)
	if err != nil {
		return err
	}
	list, total, err := s.Events.ListEvents(r.Context(), comp, store.EventFilter{AppID: q.Get("appid"), Type: q.Get("type"), Limit: n, Cursor: cursor})
	if err != nil {
		return err
	}
	items := make([]eventJSON, 0, len(list))
	for _, e := range list {
		items = append(items, eventJSON{ID: e.ID, ComponentAppID: e.ComponentAppID, AppID: e.AppID, Type: e.Type,
			CreateTime: timePtr(e.CreateTime), ReceivedAt: e.ReceivedAt, Payload: string(e.Payload)})
	}
	resp := map[string]any{"items": items, "total": total}
	if len(list) == n {
		resp["next_cursor"] = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
