package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/messaging"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/wechat"
)

// messagingRoutes registers customer service (conversations, replies,
// typing) and subscribe messages (templates, fleet-wide applies, sends).
// A merchant answers its own apps' users and sends their subscribe
// messages (its tenant's apps only: scopedApp, appscope.go); adding
// templates from WeChat's library and fleet-wide applies stay the ISV
// staff's.
func (s *Server) messagingRoutes(mux *http.ServeMux) {
	s.api(mux, "GET /api/v1/authorizers/{appid}/conversations", TenantRead(), s.listConversations)
	s.api(mux, "GET /api/v1/authorizers/{appid}/conversations/{openid}", TenantRead(), s.getConversation)
	s.api(mux, "POST /api/v1/authorizers/{appid}/conversations/{openid}/messages", TenantWrite("conversation.send"), s.sendConversationMessage)
	s.api(mux, "POST /api/v1/authorizers/{appid}/conversations/{openid}/typing", TenantWrite("conversation.typing"), s.setTyping)
	s.api(mux, "GET /api/v1/authorizers/{appid}/subscribe-templates", TenantRead(), s.listSubscribeTemplates)
	s.api(mux, "POST /api/v1/authorizers/{appid}/subscribe-templates", StaffWrite("subscribe_template.add"), s.addSubscribeTemplate)
	s.api(mux, "GET /api/v1/authorizers/{appid}/subscribe-library", StaffRead(), s.subscribeLibrary)
	s.api(mux, "POST /api/v1/authorizers/{appid}/subscribe-messages", TenantWrite("subscribe_message.send"), s.sendSubscribeMessage)
	s.api(mux, "POST /api/v1/subscribe-templates/apply", StaffWrite("subscribe_template.apply"), s.applySubscribeTemplate)
	s.api(mux, "GET /api/v1/subscribe-templates/apply/{id}", StaffRead(), s.getSubscribeApply)
}

type conversationJSON struct {
	OpenID        string     `json:"openid"`
	LastUserAt    *time.Time `json:"last_user_message_at"`
	LastMessageAt *time.Time `json:"last_message_at"`
	WindowOpen    bool       `json:"window_open"`
	WindowEndsAt  *time.Time `json:"window_ends_at"`
	LastPreview   string     `json:"last_preview"`
	Messages      int64      `json:"messages"`
	EntryOnly     bool       `json:"-"` // the window was a session entry's minute (the console says so)
}

// toConversationJSON is c with its reply window at now, decided as the send
// path decides it (messaging.Service.Window: a session entry alone opens a
// minute, a message 48 hours).
func (s *Server) toConversationJSON(ctx context.Context, c *wxfleet.Conversation, now time.Time) (conversationJSON, error) {
	j := conversationJSON{OpenID: c.OpenID, LastUserAt: timePtr(c.LastUserAt), LastMessageAt: timePtr(c.LastMessageAt),
		LastPreview: c.LastPreview, Messages: c.Messages}
	ends, entryOnly, err := s.Messaging.Window(ctx, c)
	if err != nil {
		return j, err
	}
	if !ends.IsZero() {
		j.WindowOpen, j.WindowEndsAt, j.EntryOnly = now.Before(ends), timePtr(ends), entryOnly
	}
	return j, nil
}

type conversationMessageJSON struct {
	ID        int64     `json:"id"`
	Direction string    `json:"direction"`
	MsgType   string    `json:"msgtype"`
	Content   string    `json:"content"`
	MediaID   string    `json:"media_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	MsgID     string    `json:"wechat_msgid,omitempty"`
	Delivery  *struct {
		ErrorCode   int       `json:"error_code"`
		ErrorStatus string    `json:"error_status"`
		ReportedAt  time.Time `json:"reported_at"`
	} `json:"delivery,omitempty"`
}

func toMessageJSON(m *wxfleet.ConversationMessage) conversationMessageJSON {
	j := conversationMessageJSON{ID: m.ID, Direction: m.Direction, MsgType: m.MsgType, Content: m.Content,
		MediaID: m.MediaID, CreatedAt: m.CreatedAt, MsgID: m.WeChatMsgID}
	if d := m.Delivery; d != nil {
		j.Delivery = &struct {
			ErrorCode   int       `json:"error_code"`
			ErrorStatus string    `json:"error_status"`
			ReportedAt  time.Time `json:"reported_at"`
		}{d.ErrorCode, d.ErrorStatus, d.ReportedAt}
	}
	return j
}

// GET /api/v1/authorizers/{appid}/conversations?limit=&cursor=
func (s *Server) listConversations(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	n, err := limit(r, 50, 500)
	if err != nil {
		return err
	}
	list, total, err := s.Messaging.Conversations(r.Context(), scopeOf(r), comp, appID, n, r.URL.Query().Get("cursor"))
	if err != nil {
		return err
	}
	now := s.Now()
	items := make([]conversationJSON, 0, len(list))
	for _, c := range list {
		j, err := s.toConversationJSON(r.Context(), c, now)
		if err != nil {
			return err
		}
		items = append(items, j)
	}
	resp := map[string]any{"items": items, "total": total}
	if len(list) == n {
		resp["next_cursor"] = store.ConversationCursor(list[len(list)-1])
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// GET /api/v1/authorizers/{appid}/conversations/{openid}?limit=&before=
func (s *Server) getConversation(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	n, err := limit(r, 50, 500)
	if err != nil {
		return err
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			return wxfleet.Errorf(wxfleet.EINVALID, "before 须是消息 id / before must be a message id")
		}
	}
	openid := r.PathValue("openid")
	c, err := s.Store.Conversation(r.Context(), scopeOf(r), comp, appID, openid)
	if err != nil {
		return err
	}
	msgs, err := s.Store.ConversationMessages(r.Context(), scopeOf(r), comp, appID, openid, before, n)
	if err != nil {
		return err
	}
	consents, err := s.Store.Consents(r.Context(), scopeOf(r), comp, appID, openid)
	if err != nil {
		return err
	}
	items := make([]conversationMessageJSON, 0, len(msgs))
	for _, m := range msgs {
		items = append(items, toMessageJSON(m))
	}
	type consentJSON struct {
		TemplateID string     `json:"template_id"`
		Remaining  int        `json:"remaining"`
		LongTerm   bool       `json:"long_term"`
		RefusedAt  *time.Time `json:"refused_at,omitempty"`
	}
	cj := make([]consentJSON, 0, len(consents))
	for _, k := range consents {
		cj = append(cj, consentJSON{k.TemplateID, k.Remaining, k.LongTerm, timePtr(k.RefusedAt)})
	}
	cv, err := s.toConversationJSON(r.Context(), c, s.Now())
	if err != nil {
		return err
	}
	resp := map[string]any{"conversation": cv, "items": items, "subscribe_consents": cj}
	if len(msgs) == n {
		resp["next_before"] = msgs[len(msgs)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// POST /api/v1/authorizers/{appid}/conversations/{openid}/messages
// {"msgtype":"text","text":{"content"}} | {"msgtype":"image","image":{"media_id"} or {"data":"<base64>","filename"}}
// | {"msgtype":"link","link":{...}} | {"msgtype":"miniprogrampage","miniprogrampage":{...}}
func (s *Server) sendConversationMessage(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	var req struct {
		MsgType string             `json:"msgtype"`
		Text    *wechat.CustomText `json:"text"`
		Image   *struct {
			MediaID  string `json:"media_id"`
			Data     []byte `json:"data"`
			Filename string `json:"filename"`
		} `json:"image"`
		Link            *wechat.CustomLink            `json:"link"`
		MiniProgramPage *wechat.CustomMiniProgramPage `json:"miniprogrampage"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	reply := messaging.Reply{MsgType: req.MsgType, Text: req.Text, Link: req.Link, MiniProgramPage: req.MiniProgramPage}
	if req.Image != nil {
		reply.MediaID, reply.ImageData, reply.ImageName = req.Image.MediaID, req.Image.Data, req.Image.Filename
	}
	m, err := s.Messaging.Send(r.Context(), comp, appID, r.PathValue("openid"), reply)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toMessageJSON(m))
	return nil
}

// POST /api/v1/authorizers/{appid}/conversations/{openid}/typing {"command":"Typing"|"CancelTyping"}
func (s *Server) setTyping(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	var req struct {
		Command string `json:"command"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Command == "" {
		req.Command = wechat.TypingOn
	}
	if err := s.Messaging.Typing(r.Context(), comp, appID, r.PathValue("openid"), req.Command); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "command": req.Command})
	return nil
}

type subscribeTemplateJSON struct {
	TemplateID string     `json:"template_id"`
	TID        int        `json:"tid,omitempty"`
	Title      string     `json:"title"`
	Content    string     `json:"content"`
	Example    string     `json:"example"`
	Type       int        `json:"type"`
	SyncedAt   *time.Time `json:"synced_at"`
}

func toSubscribeTemplateJSON(t *wxfleet.SubscribeTemplate) subscribeTemplateJSON {
	return subscribeTemplateJSON{t.TemplateID, t.TID, t.Title, t.Content, t.Example, t.Type, timePtr(t.SyncedAt)}
}

// GET /api/v1/authorizers/{appid}/subscribe-templates: read from WeChat, stored, listed.
func (s *Server) listSubscribeTemplates(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	list, err := s.Messaging.SyncTemplates(r.Context(), comp, appID)
	if err != nil {
		return err
	}
	items := make([]subscribeTemplateJSON, 0, len(list))
	for _, t := range list {
		items = append(items, toSubscribeTemplateJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

type addTemplateRequest struct {
	TID       int    `json:"tid"`
	KIDs      []int  `json:"kid_list"`
	SceneDesc string `json:"scene_desc"`
}

// POST /api/v1/authorizers/{appid}/subscribe-templates {"tid","kid_list","scene_desc"}
func (s *Server) addSubscribeTemplate(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	var req addTemplateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	t, err := s.Messaging.AddTemplate(r.Context(), comp, appID, messaging.AddRequest{TID: req.TID, KIDs: req.KIDs, SceneDesc: req.SceneDesc})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toSubscribeTemplateJSON(t))
	return nil
}

// GET /api/v1/authorizers/{appid}/subscribe-library?category=616,632&start=&limit= | ?tid=
func (s *Server) subscribeLibrary(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if v := q.Get("tid"); v != "" {
		tid, err := strconv.Atoi(v)
		if err != nil {
			return wxfleet.Errorf(wxfleet.EINVALID, "tid 须是整数 / tid must be an integer")
		}
		kws, err := s.Messaging.Keywords(r.Context(), comp, appID, tid)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"tid": tid, "keywords": nonNil(kws)})
		return nil
	}
	var cats []int
	if v := q.Get("category"); v != "" {
		for _, c := range strings.Split(v, ",") {
			id, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil {
				return wxfleet.Errorf(wxfleet.EINVALID, "category 须是逗号分隔的类目 id / category must be comma-separated category ids")
			}
			cats = append(cats, id)
		}
	}
	start, _ := strconv.Atoi(q.Get("start"))
	n, err := limit(r, 30, 30)
	if err != nil {
		return err
	}
	categories, titles, count, err := s.Messaging.Library(r.Context(), comp, appID, cats, start, n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"categories": nonNil(categories), "templates": nonNil(titles), "count": count})
	return nil
}

// POST /api/v1/authorizers/{appid}/subscribe-messages {"openid","template_id","data":{"thing1":"…"} or {"thing1":{"value":"…"}},"page"?}
func (s *Server) sendSubscribeMessage(w http.ResponseWriter, r *http.Request) error {
	comp, appID, err := s.scopedApp(r)
	if err != nil {
		return err
	}
	var req struct {
		OpenID     string                   `json:"openid"`
		TemplateID string                   `json:"template_id"`
		Data       map[string]subscribeData `json:"data"`
		Page       string                   `json:"page"`
		State      string                   `json:"miniprogram_state"`
		Lang       string                   `json:"lang"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	data := make(map[string]string, len(req.Data))
	for k, v := range req.Data {
		data[k] = string(v)
	}
	msgID, err := s.Messaging.SendSubscribe(r.Context(), comp, appID, messaging.SubscribeSend{
		OpenID: req.OpenID, TemplateID: req.TemplateID, Data: data, Page: req.Page, State: req.State, Lang: req.Lang})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"msgid": msgID})
	return nil
}

// subscribeData is a keyword's value, given as a string or as WeChat's {"value": "…"}.
type subscribeData string

func (d *subscribeData) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err == nil {
		*d = subscribeData(v)
		return nil
	}
	var obj struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	*d = subscribeData(obj.Value)
	return nil
}

// POST /api/v1/subscribe-templates/apply {"tid","kid_list","scene_desc","appids":[...]} → 202 {"id","apps","counts"}
func (s *Server) applySubscribeTemplate(w http.ResponseWriter, r *http.Request) error {
	comp, err := s.platform(r)
	if err != nil {
		return err
	}
	var req struct {
		addTemplateRequest
		AppIDs []string `json:"appids"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	a, err := s.Messaging.Apply(r.Context(), comp, messaging.AddRequest{TID: req.TID, KIDs: req.KIDs, SceneDesc: req.SceneDesc}, req.AppIDs)
	if err != nil {
		return err
	}
	return s.writeApply(w, r, comp, a.ID, http.StatusAccepted)
}

// GET /api/v1/subscribe-templates/apply/{id}
func (s *Server) getSubscribeApply(w http.ResponseWriter, r *http.Request) error {
	comp, id, err := s.platformAndID(r)
	if err != nil {
		return err
	}
	return s.writeApply(w, r, comp, id, http.StatusOK)
}

func (s *Server) writeApply(w http.ResponseWriter, r *http.Request, comp string, id int64, status int) error {
	st, err := s.Messaging.ApplyStatusOf(r.Context(), comp, id)
	if err != nil {
		return err
	}
	type appJSON struct {
		AppID      string    `json:"appid"`
		Status     string    `json:"status"`
		TemplateID string    `json:"template_id,omitempty"`
		Error      string    `json:"error,omitempty"`
		UpdatedAt  time.Time `json:"updated_at"`
	}
	apps := make([]appJSON, 0, len(st.Apps))
	for _, p := range st.Apps {
		apps = append(apps, appJSON{p.AppID, p.Status, p.TemplateID, p.Error, p.UpdatedAt})
	}
	a := st.Apply
	writeJSON(w, status, map[string]any{"id": a.ID, "tid": a.TID, "kid_list": a.KIDs, "scene_desc": a.SceneDesc,
		"created_at": a.CreatedAt, "counts": st.Counts, "apps": apps})
	return nil
}
