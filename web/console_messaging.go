package web

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/messaging"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/wechat"
)

// The console's customer-service inbox and subscribe messages of one mini
// program (docs/wechat-capabilities.md): the conversations filed from the
// pushes, one conversation with a reply form, the app's subscribe templates
// and a send form. A refusal — the platform's own (the 48-hour window, no
// consent) or WeChat's (its errcode named) — is shown on the page it came
// from, with the form kept. A merchant uses them for its own tenant's apps
// (appOf bounds every page by the caller's scope; another tenant's app is
// not found), linked from its portal; WeChat's template library stays the
// ISV staff's.

func (s *Server) messagingPages(mux *http.ServeMux) {
	s.page(mux, "GET /authorizers/{appid}/inbox", TenantRead(), s.inboxPage)
	s.page(mux, "GET /authorizers/{appid}/inbox/{openid}", TenantRead(), s.conversationPage)
	// A reply may carry an image: WeChat's 10 MB and the form around it.
	s.pageCap(mux, "POST /authorizers/{appid}/inbox/{openid}", TenantWrite("conversation.send"), 10<<20+64<<10, s.replyForm)
	s.page(mux, "GET /authorizers/{appid}/subscribe", TenantRead(), s.subscribePage)
	s.page(mux, "POST /authorizers/{appid}/subscribe/sync", TenantWrite("subscribe_template.sync"), s.syncSubscribeForm)
	s.page(mux, "GET /authorizers/{appid}/subscribe/library", StaffRead(), s.subscribeLibraryPage)
	s.page(mux, "POST /authorizers/{appid}/subscribe/templates", StaffWrite("subscribe_template.add"), s.addSubscribeTemplateForm)
	s.page(mux, "POST /authorizers/{appid}/subscribe/send", TenantWrite("subscribe_message.send"), s.sendSubscribeForm)
}

// appOf is the page's platform and mini program (which must be authorized
// to the platform at some time), inside the caller's scope: a merchant's
// own tenant's app, another's is not found (appscope.go).
func (s *Server) appOf(r *http.Request) (string, *wxfleet.Authorizer, error) {
	comp, err := s.platform(r)
	if err != nil {
		return "", nil, err
	}
	a, err := s.Store.Authorizer(r.Context(), comp, r.PathValue("appid"))
	if err := inScope(scopeOf(r), a, err); err != nil {
		return "", nil, err
	}
	return comp, a, nil
}

func appBack(comp, appID, sub string) string {
	return "/authorizers/" + url.PathEscape(appID) + sub + platformQuery(comp)
}

// inboxPage lists a mini program's conversations, the most recent first.
func (s *Server) inboxPage(w http.ResponseWriter, r *http.Request) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	const pageSize = 50
	list, total, err := s.Messaging.Conversations(r.Context(), scopeOf(r), comp, a.AppID, pageSize, r.URL.Query().Get("cursor"))
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appHome(r, comp, a.AppID))
		return
	}
	now := s.Now()
	items := make([]conversationJSON, len(list))
	for i, c := range list {
		if items[i], err = s.toConversationJSON(r.Context(), c, now); err != nil {
			s.errorPage(w, r, "出错了 Error", err, appHome(r, comp, a.AppID))
			return
		}
	}
	data := map[string]any{"Title": a.Nickname + " · 客服消息 Customer service", "Platform": comp, "A": toAuthorizerJSON(a, now, false),
		"Items": items, "Total": total}
	if len(list) == pageSize {
		data["Next"] = store.ConversationCursor(list[len(list)-1])
	}
	s.render(w, r, http.StatusOK, "inbox", data)
}

// conversationPage is one user's conversation and the reply form.
func (s *Server) conversationPage(w http.ResponseWriter, r *http.Request) {
	s.renderConversation(w, r, http.StatusOK, "", "")
}

// renderConversation shows the conversation; errMsg is a refused reply
// and draft its text, kept in the form.
func (s *Server) renderConversation(w http.ResponseWriter, r *http.Request, status int, errMsg, draft string) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	ctx, openid := r.Context(), r.PathValue("openid")
	back := appBack(comp, a.AppID, "/inbox")
	c, err := s.Store.Conversation(ctx, scopeOf(r), comp, a.AppID, openid)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, back)
		return
	}
	const pageSize = 100
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		before, _ = strconv.ParseInt(v, 10, 64)
	}
	msgs, err := s.Store.ConversationMessages(ctx, scopeOf(r), comp, a.AppID, openid, before, pageSize)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, back)
		return
	}
	// Oldest first on the page, as a chat reads.
	items := make([]conversationMessageJSON, len(msgs))
	for i, m := range msgs {
		items[len(msgs)-1-i] = toMessageJSON(m)
	}
	now := s.Now()
	cv, err := s.toConversationJSON(ctx, c, now)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, back)
		return
	}
	data := map[string]any{"Title": openid + " · 客服消息 Customer service", "Platform": comp, "Path": appBack(comp, a.AppID, "/inbox/"+url.PathEscape(openid)), "A": toAuthorizerJSON(a, now, false),
		"C": cv, "Items": items, "Err": errMsg, "Draft": draft, "Sent": r.URL.Query().Get("sent") != ""}
	if len(msgs) == pageSize {
		data["Older"] = msgs[len(msgs)-1].ID
	}
	s.render(w, r, status, "conversation", data)
}

// replyForm answers the user (text) through message/custom/send.
func (s *Server) replyForm(w http.ResponseWriter, r *http.Request) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	openid, text := r.PathValue("openid"), r.PostFormValue("content")
	typing := r.PostFormValue("typing") != ""
	ctx := r.Context()
	switch image, name, ierr := formImage(r); {
	case typing:
		err = s.Messaging.Typing(ctx, comp, a.AppID, openid, wechat.TypingOn)
	case ierr != nil:
		err = ierr
	case image != nil:
		// The text first, if any, then the image (uploaded as temporary media).
		if strings.TrimSpace(text) != "" {
			_, err = s.Messaging.Send(ctx, comp, a.AppID, openid, messaging.Reply{MsgType: wechat.MsgTypeText, Text: &wechat.CustomText{Content: text}})
		}
		if err == nil {
			text = "" // sent: not kept in the form should the image fail
			_, err = s.Messaging.Send(ctx, comp, a.AppID, openid, messaging.Reply{MsgType: wechat.MsgTypeImage, ImageData: image, ImageName: name})
		}
	default:
		_, err = s.Messaging.Send(ctx, comp, a.AppID, openid, messaging.Reply{MsgType: wechat.MsgTypeText, Text: &wechat.CustomText{Content: text}})
	}
	if err != nil {
		auditSkip(r)
		s.renderConversation(w, r, statusOfErr(err), wxfleet.ErrorMessage(err), text)
		return
	}
	auditTarget(r, comp, a.AppID, openid)
	back := appBack(comp, a.AppID, "/inbox/"+url.PathEscape(openid))
	if typing {
		auditAction(r, "conversation.typing")
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, back+"&sent=1", http.StatusSeeOther)
}

// formImage is the reply form's image file, nil when none was chosen.
func formImage(r *http.Request) ([]byte, string, error) {
	if r.MultipartForm == nil || len(r.MultipartForm.File["image"]) == 0 {
		return nil, "", nil
	}
	fh := r.MultipartForm.File["image"][0]
	if fh.Size == 0 {
		return nil, "", nil
	}
	f, err := fh.Open()
	if err != nil {
		return nil, "", wxfleet.WrapError(wxfleet.EINVALID, "无法读取图片 / cannot read the image", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, "", wxfleet.WrapError(wxfleet.EINVALID, "无法读取图片 / cannot read the image", err)
	}
	return b, fh.Filename, nil
}

// subscribeForm is the send form as the page holds it.
type subscribeForm struct {
	OpenID, TemplateID, Data, Page string
}

// subscribePage lists the app's subscribe templates (as last read from
// WeChat) and the send form.
func (s *Server) subscribePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.renderSubscribe(w, r, http.StatusOK, subscribeForm{OpenID: q.Get("openid"), TemplateID: q.Get("template_id")}, "", q.Get("msgid"))
}

func (s *Server) renderSubscribe(w http.ResponseWriter, r *http.Request, status int, f subscribeForm, errMsg, sent string) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	list, err := s.Store.SubscribeTemplates(r.Context(), comp, a.AppID)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appHome(r, comp, a.AppID))
		return
	}
	items := make([]subscribeTemplateJSON, len(list))
	for i, t := range list {
		items[i] = toSubscribeTemplateJSON(t)
	}
	s.render(w, r, status, "subscribe", map[string]any{"Title": a.Nickname + " · 订阅消息 Subscribe messages", "Platform": comp, "Path": appBack(comp, a.AppID, "/subscribe"),
		"A": toAuthorizerJSON(a, s.Now(), false), "Items": items, "F": f, "Err": errMsg, "Sent": sent, "Added": r.URL.Query().Get("added")})
}

// syncSubscribeForm reads the app's templates from WeChat again.
func (s *Server) syncSubscribeForm(w http.ResponseWriter, r *http.Request) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	if _, err := s.Messaging.SyncTemplates(r.Context(), comp, a.AppID); err != nil {
		auditSkip(r)
		s.renderSubscribe(w, r, statusOfErr(err), subscribeForm{}, wxfleet.ErrorMessage(err), "")
		return
	}
	auditTarget(r, comp, a.AppID, "")
	http.Redirect(w, r, appBack(comp, a.AppID, "/subscribe"), http.StatusSeeOther)
}

// subscribeLibraryPage browses WeChat's public template library for the
// app (each view is WeChat calls): its categories, with ?category= their
// templates, with ?tid= a template's keywords and the form that adds it.
func (s *Server) subscribeLibraryPage(w http.ResponseWriter, r *http.Request) {
	s.renderLibrary(w, r, http.StatusOK, "")
}

func (s *Server) renderLibrary(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	q, ctx := r.URL.Query(), r.Context()
	data := map[string]any{"Title": a.Nickname + " · 订阅消息模板库 Subscribe template library", "Platform": comp, "Path": appBack(comp, a.AppID, "/subscribe/library"),
		"A": toAuthorizerJSON(a, s.Now(), false), "Err": errMsg, "Category": q.Get("category")}
	var cats []int
	if v := q.Get("category"); v != "" {
		if id, err := strconv.Atoi(v); err == nil {
			cats = []int{id}
		}
	}
	start, _ := strconv.Atoi(q.Get("start"))
	categories, titles, count, err := s.Messaging.Library(ctx, comp, a.AppID, cats, max(start, 0), 30)
	if err != nil {
		data["LibErr"] = wechatErrText(err)
	}
	data["Categories"], data["Titles"], data["Count"] = categories, titles, count
	if start+len(titles) < count {
		data["NextStart"] = start + len(titles)
	}
	if v := q.Get("tid"); v != "" {
		tid, err := strconv.Atoi(v)
		if err != nil {
			data["KwErr"] = "tid 须是整数 / tid must be an integer"
		} else if kws, err := s.Messaging.Keywords(ctx, comp, a.AppID, tid); err != nil {
			data["KwErr"] = wechatErrText(err)
		} else {
			data["TID"], data["Keywords"] = tid, kws
		}
	}
	s.render(w, r, status, "subscribe_library", data)
}

// addSubscribeTemplateForm adds a library template to the app's own
// templates, with the keywords ticked and a scene.
func (s *Server) addSubscribeTemplateForm(w http.ResponseWriter, r *http.Request) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	req := messaging.AddRequest{SceneDesc: strings.TrimSpace(r.PostFormValue("scene_desc"))}
	req.TID, err = strconv.Atoi(r.PostFormValue("tid"))
	if err != nil {
		err = wxfleet.Errorf(wxfleet.EINVALID, "tid 须是整数 / tid must be an integer")
	}
	for _, v := range r.PostForm["kid"] {
		if err != nil {
			break
		}
		kid, kerr := strconv.Atoi(v)
		if kerr != nil {
			err = wxfleet.Errorf(wxfleet.EINVALID, "关键词 id 须是整数 / keyword ids must be integers")
		}
		req.KIDs = append(req.KIDs, kid)
	}
	var t *wxfleet.SubscribeTemplate
	if err == nil {
		t, err = s.Messaging.AddTemplate(r.Context(), comp, a.AppID, req)
	}
	if err != nil {
		auditSkip(r)
		s.renderLibrary(w, r, statusOfErr(err), wxfleet.ErrorMessage(err))
		return
	}
	auditTarget(r, comp, a.AppID, t.TemplateID)
	auditDetail(r, map[string]any{"tid": req.TID, "kid_list": req.KIDs})
	http.Redirect(w, r, appBack(comp, a.AppID, "/subscribe")+"&added="+url.QueryEscape(t.TemplateID), http.StatusSeeOther)
}

// parseSubscribeData reads "key=value" lines (or "key: value").
func parseSubscribeData(text string) (map[string]string, error) {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if !ok || strings.TrimSpace(k) == "" {
			return nil, wxfleet.Errorf(wxfleet.EINVALID, "内容每行须是 关键词=值，如 thing1=到店自提 / each line of data must be key=value, such as thing1=pick up in store: %q", line)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// sendSubscribeForm sends a subscribe message; without the user's consent
// the platform refuses (as WeChat would, 43101), and the page says so.
func (s *Server) sendSubscribeForm(w http.ResponseWriter, r *http.Request) {
	comp, a, err := s.appOf(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, appsHome(r))
		return
	}
	f := subscribeForm{OpenID: strings.TrimSpace(r.PostFormValue("openid")), TemplateID: strings.TrimSpace(r.PostFormValue("template_id")),
		Data: r.PostFormValue("data"), Page: strings.TrimSpace(r.PostFormValue("page"))}
	data, err := parseSubscribeData(f.Data)
	var msgID int64
	if err == nil {
		msgID, err = s.Messaging.SendSubscribe(r.Context(), comp, a.AppID, messaging.SubscribeSend{OpenID: f.OpenID, TemplateID: f.TemplateID, Data: data, Page: f.Page})
	}
	if err != nil {
		auditSkip(r)
		s.renderSubscribe(w, r, statusOfErr(err), f, wxfleet.ErrorMessage(err), "")
		return
	}
	auditTarget(r, comp, a.AppID, f.TemplateID)
	auditDetail(r, map[string]any{"openid": f.OpenID, "msgid": msgID})
	http.Redirect(w, r, appBack(comp, a.AppID, "/subscribe")+"&msgid="+strconv.FormatInt(msgID, 10), http.StatusSeeOther)
}
