package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet"
)

// accountPages registers the owners' accounts page and its forms.
func (s *Server) accountPages(mux *http.ServeMux) {
	s.page(mux, "GET /accounts", OwnerRead(), s.accountsPage)
	s.page(mux, "POST /accounts", OwnerWrite("account.create"), s.accountCreateForm)
	s.page(mux, "POST /accounts/{id}/{change}", OwnerWrite("account.update"), s.accountChangeForm)
}

// accountsPage lists the accounts with a form for a new one and, per
// account, disable / enable.
func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.ListAccounts(r.Context(), wxfleet.Scope{}, 0, 1000)
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/")
		return
	}
	items := make([]accountJSON, len(list))
	for i, a := range list {
		items[i] = toAccountJSON(a)
	}
	s.render(w, r, http.StatusOK, "accounts", map[string]any{"Title": "帐号 Accounts", "Items": items, "Created": r.URL.Query().Get("created")})
}

// accountCreateForm: POST /accounts (email, name, role, tenant_id, password).
func (s *Server) accountCreateForm(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	req := accountRequest{Email: f.Get("email"), Name: strings.TrimSpace(f.Get("name")), Role: wxfleet.Role(f.Get("role")), Password: f.Get("password")}
	if t := strings.TrimSpace(f.Get("tenant_id")); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			s.errorPage(w, r, "无法创建帐号 Cannot create the account", wxfleet.Errorf(wxfleet.EINVALID, "tenant_id 须是正整数 / tenant_id must be a positive integer"), "/accounts")
			return
		}
		req.TenantID = n
	}
	a, err := s.newAccount(r, req)
	if err != nil {
		s.errorPage(w, r, "无法创建帐号 Cannot create the account", err, "/accounts")
		return
	}
	http.Redirect(w, r, "/accounts?created="+strconv.FormatInt(a.ID, 10), http.StatusSeeOther)
}

// accountChangeForm: POST /accounts/{id}/disable|enable.
func (s *Server) accountChangeForm(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.errorPage(w, r, "出错了 Error", err, "/accounts")
		return
	}
	var off bool
	switch r.PathValue("change") {
	case "disable":
		off = true
	case "enable":
	default:
		s.errorPage(w, r, "出错了 Error", wxfleet.Errorf(wxfleet.ENOTFOUND, "没有这个操作 / no such change: %s (disable, enable)", r.PathValue("change")), "/accounts")
		return
	}
	if _, err := s.changeAccount(r, id, accountPatch{Disabled: &off}); err != nil {
		s.errorPage(w, r, "无法修改帐号 Cannot change the account", err, "/accounts")
		return
	}
	http.Redirect(w, r, "/accounts", http.StatusSeeOther)
}
