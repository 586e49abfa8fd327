package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/password"
	"github.com/wxfleet/wxfleet/store"
)

// accountRoutes registers accounts (owners only), API tokens (every
// signed-in role but viewers may make them; each sees its own) and the
// audit log.
func (s *Server) accountRoutes(mux *http.ServeMux) {
	s.api(mux, "POST /api/v1/accounts", OwnerWrite("account.create"), s.createAccount)
	s.api(mux, "GET /api/v1/accounts", OwnerRead(), s.listAccounts)
	s.api(mux, "GET /api/v1/accounts/{id}", OwnerRead(), s.getAccount)
	s.api(mux, "PATCH /api/v1/accounts/{id}", OwnerWrite("account.update"), s.updateAccount)
	s.api(mux, "POST /api/v1/api-tokens", TenantWrite("api_token.create"), s.createAPIToken)
	s.api(mux, "GET /api/v1/api-tokens", TenantRead(), s.listAPITokens)
	s.api(mux, "DELETE /api/v1/api-tokens/{id}", TenantWrite("api_token.delete"), s.deleteAPIToken)
	s.api(mux, "GET /api/v1/audit-log", TenantRead(), s.listAudit)
}

// accountJSON is an account as the API shows it: never its password hash.
type accountJSON struct {
	ID                int64        `json:"id"`
	Email             string       `json:"email"`
	Name              string       `json:"name"`
	Role              wxfleet.Role `json:"role"`
	TenantID          int64        `json:"tenant_id,omitempty"`
	Disabled          bool         `json:"disabled"`
	CreatedAt         *time.Time   `json:"created_at"`
	UpdatedAt         *time.Time   `json:"updated_at"`
	PasswordChangedAt *time.Time   `json:"password_changed_at"`
}

func toAccountJSON(a *wxfleet.Account) accountJSON {
	return accountJSON{ID: a.ID, Email: a.Email, Name: a.Name, Role: a.Role, TenantID: a.TenantID, Disabled: a.Disabled,
		CreatedAt: timePtr(a.CreatedAt), UpdatedAt: timePtr(a.UpdatedAt), PasswordChangedAt: timePtr(a.PasswordChangedAt)}
}

// hashNew checks a new password against the rules and hashes it.
func hashNew(plain, email string) (string, error) {
	if err := password.Check(plain, email); err != nil {
		return "", err
	}
	return password.Hash(plain)
}

// accountRequest is a new account, from the API or the console's form.
type accountRequest struct {
	Email    string       `json:"email"`
	Name     string       `json:"name"`
	Role     wxfleet.Role `json:"role"`
	TenantID int64        `json:"tenant_id"`
	Password string       `json:"password"`
}

// newAccount checks the password rules, hashes it and stores the account
// with its audit entry in one transaction.
func (s *Server) newAccount(r *http.Request, req accountRequest) (*wxfleet.Account, error) {
	email := store.NormalizeEmail(req.Email)
	hash, err := hashNew(req.Password, email)
	if err != nil {
		return nil, err
	}
	a := &wxfleet.Account{Email: email, Name: req.Name, Role: req.Role, TenantID: req.TenantID, PasswordHash: hash, CreatedAt: s.Now()}
	e := s.auditInTx(r)
	e.TenantID = req.TenantID
	auditDetailOn(e, map[string]any{"email": email, "role": req.Role, "tenant_id": req.TenantID})
	if err := s.Store.CreateAccount(r.Context(), a, e); err != nil {
		return nil, err
	}
	return a, nil
}

// createAccount: POST /api/v1/accounts {"email","name","role","tenant_id","password"}.
func (s *Server) createAccount(w http.ResponseWriter, r *http.Request) error {
	var req accountRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	a, err := s.newAccount(r, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toAccountJSON(a))
	return nil
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) error {
	actor, _ := wxfleet.ActorFrom(r.Context())
	n, err := limit(r, 100, 1000)
	if err != nil {
		return err
	}
	after, err := cursorParam(r)
	if err != nil {
		return err
	}
	list, err := s.Store.ListAccounts(r.Context(), actor.Scope(), after, n)
	if err != nil {
		return err
	}
	items := make([]accountJSON, len(list))
	for i, a := range list {
		items[i] = toAccountJSON(a)
	}
	next := ""
	if len(list) == n {
		next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
	return nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	actor, _ := wxfleet.ActorFrom(r.Context())
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.Store.Account(r.Context(), actor.Scope(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAccountJSON(a))
	return nil
}

// updateAccount: PATCH /api/v1/accounts/{id} {"name"?,"role"?,"tenant_id"?,
// "disabled"?,"password"?}. A new password or disabling signs the account
// out everywhere. The last enabled owner account cannot be demoted or
// disabled (the admin token would still get in, but nobody else could
// manage accounts).
func (s *Server) updateAccount(w http.ResponseWriter, r *http.Request) error {
	var req accountPatch
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.changeAccount(r, id, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAccountJSON(a))
	return nil
}

// accountPatch is a change to an account; nil fields stay.
type accountPatch struct {
	Name     *string       `json:"name"`
	Role     *wxfleet.Role `json:"role"`
	TenantID *int64        `json:"tenant_id"`
	Disabled *bool         `json:"disabled"`
	Password *string       `json:"password"`
}

// changeAccount applies req to account id with its audit entry in one
// transaction, keeping the last enabled owner.
func (s *Server) changeAccount(r *http.Request, id int64, req accountPatch) (*wxfleet.Account, error) {
	cur, err := s.Store.Account(r.Context(), wxfleet.Scope{}, id)
	if err != nil {
		return nil, err
	}
	change := store.AccountChange{Name: req.Name, Role: req.Role, TenantID: req.TenantID, Disabled: req.Disabled}
	detail := map[string]any{}
	if req.Role != nil {
		detail["role"] = *req.Role
	}
	if req.TenantID != nil {
		detail["tenant_id"] = *req.TenantID
	}
	if req.Disabled != nil {
		detail["disabled"] = *req.Disabled
	}
	if req.Name != nil {
		detail["name"] = *req.Name
	}
	if req.Password != nil {
		hash, err := hashNew(*req.Password, cur.Email)
		if err != nil {
			return nil, err
		}
		change.PasswordHash = &hash
		detail["password"] = "reset" // that it changed, never what to
	}
	demoted := req.Role != nil && *req.Role != wxfleet.RoleOwner || req.Disabled != nil && *req.Disabled
	if cur.Role == wxfleet.RoleOwner && !cur.Disabled && demoted {
		n, err := s.Store.CountAccounts(r.Context(), wxfleet.RoleOwner)
		if err != nil {
			return nil, err
		}
		if n <= 1 {
			return nil, wxfleet.Errorf(wxfleet.ECONFLICT, "这是最后一个启用的所有者帐号，不能降级或停用 / this is the last enabled owner account: it cannot be demoted or disabled")
		}
	}
	e := s.auditInTx(r)
	e.TenantID = cur.TenantID
	if req.TenantID != nil {
		e.TenantID = *req.TenantID
	}
	auditDetailOn(e, detail)
	return s.Store.UpdateAccount(r.Context(), id, change, s.Now(), e)
}

// apiTokenJSON is an API token as the API lists it: never the token.
type apiTokenJSON struct {
	ID        int64        `json:"id"`
	Name      string       `json:"name"`
	Role      wxfleet.Role `json:"role"`
	TenantID  int64        `json:"tenant_id,omitempty"`
	AccountID int64        `json:"account_id"`
	Prefix    string       `json:"prefix"`
	CreatedBy string       `json:"created_by"`
	CreatedAt *time.Time   `json:"created_at"`
	LastUsed  *time.Time   `json:"last_used_at"`
	Token     string       `json:"token,omitempty"` // only in the answer that made it
}

func toAPITokenJSON(t *wxfleet.APIToken) apiTokenJSON {
	return apiTokenJSON{ID: t.ID, Name: t.Name, Role: t.Role, TenantID: t.TenantID, AccountID: t.AccountID, Prefix: t.Prefix,
		CreatedBy: t.CreatedBy, CreatedAt: timePtr(t.CreatedAt), LastUsed: timePtr(t.LastUsed)}
}

// createAPIToken: POST /api/v1/api-tokens {"name","role"?} → the token,
// shown this once. Its role is the caller's unless a lesser one is asked
// for; a merchant's token is bound to the merchant's tenant.
func (s *Server) createAPIToken(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name string       `json:"name"`
		Role wxfleet.Role `json:"role"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	t, tok, err := s.makeAPIToken(r, req.Name, req.Role)
	if err != nil {
		return err
	}
	out := toAPITokenJSON(t)
	out.Token = tok
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// makeAPIToken makes a token for the caller with role ("" : the caller's),
// never above the caller's, bound to the caller's tenant for a merchant, and
// returns it with the token itself, which is stored only as its digest.
func (s *Server) makeAPIToken(r *http.Request, name string, role wxfleet.Role) (*wxfleet.APIToken, string, error) {
	actor, _ := wxfleet.ActorFrom(r.Context())
	if role == "" {
		role = actor.Role
	}
	if !role.Valid() {
		return nil, "", wxfleet.Errorf(wxfleet.EINVALID, "未知角色 %q / unknown role %q", role, role)
	}
	if !role.AtMost(actor.Role) {
		return nil, "", wxfleet.Errorf(wxfleet.EFORBIDDEN, "令牌的角色不能高于你自己的（%s）/ a token cannot have a higher role than yours (%s)", actor.Role, actor.Role)
	}
	tok := newAPIToken()
	t := &wxfleet.APIToken{AccountID: actor.AccountID, Name: name, Role: role, Prefix: tok[:len(apiTokenPrefix)+6],
		CreatedBy: actor.Name, CreatedAt: s.Now()}
	if role == wxfleet.RoleMerchant {
		t.TenantID = actor.TenantID
	}
	e := s.auditInTx(r)
	auditDetailOn(e, map[string]any{"name": name, "role": role, "prefix": t.Prefix})
	if err := s.Store.CreateAPIToken(r.Context(), t, store.APITokenDigest(tok), e); err != nil {
		return nil, "", err
	}
	return t, tok, nil
}

// listAPITokens: the caller's own tokens; an owner's ?all=1 lists everyone's.
func (s *Server) listAPITokens(w http.ResponseWriter, r *http.Request) error {
	actor, _ := wxfleet.ActorFrom(r.Context())
	owner := actor.AccountID
	if r.URL.Query().Get("all") == "1" {
		if actor.Role != wxfleet.RoleOwner {
			return wxfleet.Errorf(wxfleet.EFORBIDDEN, "只有所有者能看所有人的令牌 / only owners list everyone's tokens")
		}
		owner = -1
	}
	list, err := s.Store.ListAPITokens(r.Context(), owner)
	if err != nil {
		return err
	}
	items := make([]apiTokenJSON, len(list))
	for i, t := range list {
		items[i] = toAPITokenJSON(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// deleteAPIToken revokes one of the caller's tokens (an owner: anyone's).
// Someone else's token is 404, as if it did not exist.
func (s *Server) deleteAPIToken(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.revokeAPIToken(r, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeAPIToken deletes token id if it is the caller's (an owner: anyone's).
func (s *Server) revokeAPIToken(r *http.Request, id int64) error {
	actor, _ := wxfleet.ActorFrom(r.Context())
	owner := actor.AccountID
	if actor.Role == wxfleet.RoleOwner {
		owner = -1
	}
	return s.Store.DeleteAPIToken(r.Context(), id, owner, s.auditInTx(r))
}
