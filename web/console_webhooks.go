package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/webhook"
)

// The console's webhook pages (docs/webhooks.md): the endpoints, one made
// here with its secret shown on that answer only, an endpoint's delivery
// log with disable, rotate and delete, and the dead-letter list with a
// redeliver button. Everything goes through the webhook service, as the API
// does, so a merchant's user sees and changes its own tenant's endpoints and
// deliveries only (the service bounds every call by the actor's scope), as
// the API lets it.

// webhookPages registers the webhook pages when the server keeps webhooks.
func (s *Server) webhookPages(mux *http.ServeMux) {
	if s.Webhooks == nil {
		return
	}
	s.page(mux, "GET /webhooks", TenantRead(), s.webhooksPage)
	s.page(mux, "POST /webhooks", TenantWrite("webhook.create"), s.createWebhookForm)
	s.page(mux, "GET /webhooks/{id}", TenantRead(), s.webhookPage)
	s.page(mux, "POST /webhooks/{id}/disable", TenantWrite("webhook.update"), s.disableWebhookForm)
	s.page(mux, "POST /webhooks/{id}/edit", TenantWrite("webhook.update"), s.editWebhookForm)
	s.page(mux, "POST /webhooks/{id}/rotate-secret", TenantWrite("webhook.rotate_secret"), s.rotateWebhookForm)
	s.page(mux, "POST /webhooks/{id}/delete", TenantWrite("webhook.delete"), s.deleteWebhookForm)
	s.page(mux, "POST /webhook-deliveries/{id}/redeliver", TenantWrite("webhook.redeliver"), s.redeliverForm)
}

func platformQuery(comp string) string { return "?platform=" + url.QueryEscape(comp) }

// webhooksPage lists the endpoints and the dead letters.
func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request) {
	s.renderWebhooks(w, r, http.StatusOK, nil, "")
}

// renderWebhooks shows the list; made is an endpoint just made (its secret
// shown this once), errMsg a refused form.
func (s *Server) renderWebhooks(w http.ResponseWriter, r *http.Request, status int, made *webhookJSON, errMsg string) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	ctx := r.Context()
	list, err := s.Webhooks.List(ctx, comp, r.URL.Query().Get("cursor"), 100)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	items := make([]webhookJSON, len(list))
	for i, e := range list {
		items[i] = toWebhookJSON(e)
	}
	dead, err := s.Webhooks.Deliveries(ctx, comp, store.WebhookDeliveryFilter{Status: wxfleet.DeliveryDead, Limit: 50, Cursor: r.URL.Query().Get("dead_cursor")})
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	deadItems := make([]webhookDeliveryJSON, len(dead))
	for i, d := range dead {
		deadItems[i] = toDeliveryJSON(d)
	}
	data := map[string]any{"Title": "Webhook 推送 Webhooks", "Platform": comp, "Path": "/webhooks" + platformQuery(comp), "Items": items, "Dead": deadItems,
		"Types": webhook.Types, "Made": made, "Err": errMsg, "Redelivered": r.URL.Query().Get("redelivered")}
	if len(list) == 100 {
		data["Next"] = list[len(list)-1].ID
	}
	if len(dead) == 50 {
		data["DeadNext"] = dead[len(dead)-1].ID
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "webhooks", data)
}

// createWebhookForm makes an endpoint and shows its secret on the answer
// itself (a redirect would put it in a URL).
func (s *Server) createWebhookForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/webhooks")
		return
	}
	req := webhook.CreateRequest{URL: strings.TrimSpace(r.PostFormValue("url")), Events: r.PostForm["events"],
		Description: strings.TrimSpace(r.PostFormValue("description"))}
	if v := strings.TrimSpace(r.PostFormValue("tenant_id")); v != "" {
		if req.TenantID, err = strconv.ParseInt(v, 10, 64); err != nil {
			s.errorPage(w, r, "无法创建 Webhook Cannot create the webhook",
				wxfleet.Errorf(wxfleet.EINVALID, "租户须是数字 id / tenant must be a numeric id"), "/webhooks"+platformQuery(comp))
			return
		}
	}
	e, err := s.Webhooks.Create(r.Context(), comp, req)
	if err != nil {
		auditSkip(r)
		s.renderWebhooks(w, r, statusOfErr(err), nil, wxfleet.ErrorMessage(err))
		return
	}
	auditTarget(r, comp, "", e.ID)
	auditTenant(r, e.TenantID)
	auditDetail(r, map[string]any{"url": redactQuery(e.URL), "events": e.Events})
	made := toWebhookJSON(e)
	made.Secret = e.Secret.Reveal()
	s.renderWebhooks(w, r, http.StatusCreated, &made, "")
}

// statusOfErr is the HTTP status of a coded error (500 when it has none).
func statusOfErr(err error) int {
	if st := statusOf[wxfleet.ErrorCode(err)]; st != 0 {
		return st
	}
	return http.StatusInternalServerError
}

// webhookPage is one endpoint: its settings and its delivery log.
func (s *Server) webhookPage(w http.ResponseWriter, r *http.Request) {
	s.renderWebhook(w, r, http.StatusOK, "", nil)
}

// webhookEdit is the edit form as a refused post held it.
type webhookEdit struct {
	URL, Description, Err string
	Events                map[string]bool
}

func (s *Server) renderWebhook(w http.ResponseWriter, r *http.Request, status int, secret string, edit *webhookEdit) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/webhooks")
		return
	}
	ctx := r.Context()
	e, err := s.Webhooks.Get(ctx, comp, r.PathValue("id"))
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/webhooks"+platformQuery(comp))
		return
	}
	f := store.WebhookDeliveryFilter{EndpointID: e.ID, Status: wxfleet.DeliveryStatus(r.URL.Query().Get("status")),
		Limit: 50, Cursor: r.URL.Query().Get("cursor")}
	list, err := s.Webhooks.Deliveries(ctx, comp, f)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/webhooks/"+url.PathEscape(e.ID)+platformQuery(comp))
		return
	}
	items := make([]webhookDeliveryJSON, len(list))
	for i, d := range list {
		items[i] = toDeliveryJSON(d)
	}
	if edit == nil { // the form shows what is stored
		edit = &webhookEdit{URL: e.URL, Description: e.Description, Events: map[string]bool{}}
		for _, ev := range e.Events {
			edit.Events[ev] = true
		}
	}
	data := map[string]any{"Title": "Webhook " + e.ID, "Edit": edit, "Types": webhook.Types, "Saved": r.URL.Query().Get("saved") != "", "Platform": comp, "Path": "/webhooks/" + url.PathEscape(e.ID) + platformQuery(comp), "E": toWebhookJSON(e), "Items": items,
		"Status": string(f.Status), "Secret": secret, "Confirm": r.URL.Query().Get("confirm") == "delete",
		"Redelivered": r.URL.Query().Get("redelivered")}
	if len(list) == 50 {
		data["Next"] = list[len(list)-1].ID
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "webhook", data)
}

// disableWebhookForm turns an endpoint off (disabled=1) or on again.
func (s *Server) disableWebhookForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/webhooks")
		return
	}
	id := r.PathValue("id")
	back := "/webhooks/" + url.PathEscape(id) + platformQuery(comp)
	off := r.PostFormValue("disabled") == "1"
	e, err := s.Webhooks.Update(r.Context(), comp, id, webhook.UpdateRequest{Disabled: &off})
	if err != nil {
		s.errorPage(w, r, "操作失败 The action failed", err, back)
		return
	}
	auditTarget(r, comp, "", e.ID)
	auditTenant(r, e.TenantID)
	auditDetail(r, map[string]any{"disabled": e.Disabled})
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// editWebhookForm changes the endpoint's URL, events and description, as
// PATCH /api/v1/webhooks/{id} does; a refused post comes back with its input.
func (s *Server) editWebhookForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/webhooks")
		return
	}
	id := r.PathValue("id")
	u, desc, events := strings.TrimSpace(r.PostFormValue("url")), strings.TrimSpace(r.PostFormValue("description")), r.PostForm["events"]
	e, err := s.Webhooks.Update(r.Context(), comp, id, webhook.UpdateRequest{URL: &u, Events: &events, Description: &desc})
	if err != nil {
		auditSkip(r)
		if wxfleet.ErrorCode(err) == wxfleet.ENOTFOUND {
			s.errorPage(w, r, "出错了 Error", err, "/webhooks"+platformQuery(comp))
			return
		}
		edit := &webhookEdit{URL: u, Description: desc, Err: wxfleet.ErrorMessage(err), Events: map[string]bool{}}
		for _, ev := range events {
			edit.Events[ev] = true
		}
		s.renderWebhook(w, r, statusOfErr(err), "", edit)
		return
	}
	auditTarget(r, comp, "", e.ID)
	auditTenant(r, e.TenantID)
	auditDetail(r, map[string]any{"url": redactQuery(e.URL), "events": e.Events})
	http.Redirect(w, r, "/webhooks/"+url.PathEscape(id)+platformQuery(comp)+"&saved=1", http.StatusSeeOther)
}

// rotateWebhookForm gives the endpoint a new secret, shown on this answer only.
func (s *Server) rotateWebhookForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/webhooks")
		return
	}
	id := r.PathValue("id")
	sec, err := s.Webhooks.RotateSecret(r.Context(), comp, id)
	if err != nil {
		s.errorPage(w, r, "操作失败 The action failed", err, "/webhooks/"+url.PathEscape(id)+platformQuery(comp))
		return
	}
	auditTarget(r, comp, "", id)
	s.renderWebhook(w, r, http.StatusOK, sec.Reveal(), nil)
}

// deleteWebhookForm removes the endpoint and its delivery log; without
// confirm=yes it asks first.
func (s *Server) deleteWebhookForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/webhooks")
		return
	}
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		auditSkip(r) // asked, not done
		// Only about an endpoint the actor may see: another tenant's is
		// not found here, as on every other route.
		if _, err := s.Webhooks.Get(r.Context(), comp, id); err != nil {
			s.errorPage(w, r, "删除失败 Cannot delete", err, "/webhooks"+platformQuery(comp))
			return
		}
		http.Redirect(w, r, "/webhooks/"+url.PathEscape(id)+platformQuery(comp)+"&confirm=delete", http.StatusSeeOther)
		return
	}
	if err := s.Webhooks.Delete(r.Context(), comp, id); err != nil {
		s.errorPage(w, r, "删除失败 Cannot delete", err, "/webhooks/"+url.PathEscape(id)+platformQuery(comp))
		return
	}
	auditTarget(r, comp, "", id)
	http.Redirect(w, r, "/webhooks"+platformQuery(comp), http.StatusSeeOther)
}

// redeliverForm sends a dead (or delivered) delivery again, and goes back
// to the page the button was on.
func (s *Server) redeliverForm(w http.ResponseWriter, r *http.Request) {
	comp, err := s.platform(r)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/webhooks")
		return
	}
	id := r.PathValue("id")
	back := "/webhooks" + platformQuery(comp)
	if ep := r.PostFormValue("webhook_id"); ep != "" {
		back = "/webhooks/" + url.PathEscape(ep) + platformQuery(comp)
	}
	if err := s.Webhooks.Redeliver(r.Context(), comp, id); err != nil {
		s.errorPage(w, r, "无法重新投递 Cannot redeliver", err, back)
		return
	}
	auditTarget(r, comp, "", id)
	http.Redirect(w, r, back+"&redelivered="+url.QueryEscape(id), http.StatusSeeOther)
}
