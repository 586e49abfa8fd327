package web

import (
	"net/http"
	"strings"

	"github.com/wxfleet/wxfleet"
)

// apiTokenPages registers the console's page of one's own API tokens.
func (s *Server) apiTokenPages(mux *http.ServeMux) {
	s.page(mux, "GET /api-tokens", TenantRead(), s.apiTokensPage)
	s.page(mux, "POST /api-tokens", TenantWrite("api_token.create"), s.apiTokenCreateForm)
	s.page(mux, "POST /api-tokens/{id}/delete", TenantWrite("api_token.delete"), s.apiTokenDeleteForm)
}

// apiTokensPage lists the signed-in account's tokens; made is a token just
// made, shown on this one answer and never again.
func (s *Server) apiTokensPage(w http.ResponseWriter, r *http.Request) {
	s.renderAPITokens(w, r, http.StatusOK, "")
}

func (s *Server) renderAPITokens(w http.ResponseWriter, r *http.Request, status int, made string) {
	actor, _ := wxfleet.ActorFrom(r.Context())
	list, err := s.Store.ListAPITokens(r.Context(), actor.AccountID)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	items := make([]apiTokenJSON, len(list))
	for i, t := range list {
		items[i] = toAPITokenJSON(t)
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, status, "api_tokens", map[string]any{"Title": "API 令牌 API tokens", "Items": items, "Made": made,
		"CanMake": actor.Role != wxfleet.RoleViewer, "MyRole": string(actor.Role)})
}

// apiTokenCreateForm makes a token and shows it on the answer itself (not
// behind a redirect, which would put it in a URL).
func (s *Server) apiTokenCreateForm(w http.ResponseWriter, r *http.Request) {
	_, tok, err := s.makeAPIToken(r, strings.TrimSpace(r.PostForm.Get("name")), wxfleet.Role(r.PostForm.Get("role")))
	if err != nil {
		s.errorPage(w, r, "无法创建令牌 Cannot make the token", err, "/api-tokens")
		return
	}
	s.renderAPITokens(w, r, http.StatusCreated, tok)
}

func (s *Server) apiTokenDeleteForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err == nil {
		err = s.revokeAPIToken(r, id)
	}
	if err != nil {
		s.errorPage(w, r, "无法撤销令牌 Cannot revoke the token", err, "/api-tokens")
		return
	}
	http.Redirect(w, r, "/api-tokens", http.StatusSeeOther)
}
