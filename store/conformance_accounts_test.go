package store_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
)

// ---- accounts, sessions, API tokens, audit log ----

const fakeHash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5"

func mustAccount(t testing.TB, h *harness, email string, role wxfleet.Role, tenant int64) *wxfleet.Account {
	t.Helper()
	a := &wxfleet.Account{Email: email, Role: role, TenantID: tenant, PasswordHash: fakeHash, CreatedAt: base}
	must(t, h.CreateAccount(h.ctx, a, nil))
	return a
}

func testAccounts(t *testing.T, h *harness) {
	audit := &wxfleet.AuditEntry{At: base, ActorName: "admin token", Via: "admin_token", Action: "account.create"}
	owner := &wxfleet.Account{Email: " Owner@Example.COM ", Name: "店长", Role: wxfleet.RoleOwner, PasswordHash: fakeHash, CreatedAt: base}
	must(t, h.CreateAccount(h.ctx, owner, audit))
	if owner.ID == 0 || owner.Email != "owner@example.com" || owner.CredentialsVersion != 1 {
		t.Fatalf("created %+v", owner)
	}
	if audit.ID == 0 || audit.Target != store.Itoa(owner.ID) {
		t.Fatalf("audit entry %+v: want written with the account's id as target", audit)
	}
	wantCode(t, h.CreateAccount(h.ctx, &wxfleet.Account{Email: "OWNER@example.com", Role: wxfleet.RoleViewer, PasswordHash: fakeHash, CreatedAt: base}, nil), wxfleet.ECONFLICT)
	for _, bad := range []*wxfleet.Account{
		{Email: "no-at-sign", Role: wxfleet.RoleViewer, PasswordHash: fakeHash},
		{Email: "m@x.cn", Role: wxfleet.RoleMerchant, PasswordHash: fakeHash},               // merchant without tenant
		{Email: "v@x.cn", Role: wxfleet.RoleViewer, TenantID: 3, PasswordHash: fakeHash},    // staff with a tenant
		{Email: "r@x.cn", Role: "root", PasswordHash: fakeHash},                             // unknown role
		{Email: "p@x.cn", Role: wxfleet.RoleViewer, PasswordHash: "plaintext-password-123"}, // not a hash
	} {
		wantCode(t, h.CreateAccount(h.ctx, bad, nil), wxfleet.EINVALID)
	}
	m1 := mustAccount(t, h, "m1@tenant1.cn", wxfleet.RoleMerchant, 1)
	mustAccount(t, h, "m2@tenant2.cn", wxfleet.RoleMerchant, 2)

	got, err := h.AccountByEmail(h.ctx, "OWNER@example.com")
	must(t, err)
	if got.ID != owner.ID || got.Name != "店长" || got.Role != wxfleet.RoleOwner || !got.CreatedAt.Equal(base) {
		t.Fatalf("by email: %+v", got)
	}
	_, err = h.AccountByEmail(h.ctx, "nobody@example.com")
	wantCode(t, err, wxfleet.ENOTFOUND)

	// A merchant's scope holds its own tenant's accounts only.
	_, err = h.Account(h.ctx, wxfleet.Scope{TenantID: 2}, m1.ID)
	wantCode(t, err, wxfleet.ENOTFOUND)
	if a, err := h.Account(h.ctx, wxfleet.Scope{TenantID: 1}, m1.ID); err != nil || a.Email != "m1@tenant1.cn" {
		t.Fatalf("own tenant's account: %v %v", a, err)
	}
	all, err := h.ListAccounts(h.ctx, wxfleet.Scope{}, 0, 10)
	must(t, err)
	if len(all) != 3 {
		t.Fatalf("%d accounts, want 3", len(all))
	}
	page, err := h.ListAccounts(h.ctx, wxfleet.Scope{}, all[0].ID, 1)
	must(t, err)
	if len(page) != 1 || page[0].ID != all[1].ID {
		t.Fatalf("second page: %+v", page)
	}
	t1, err := h.ListAccounts(h.ctx, wxfleet.Scope{TenantID: 1}, 0, 10)
	must(t, err)
	if len(t1) != 1 || t1[0].ID != m1.ID {
		t.Fatalf("tenant 1's accounts: %+v", t1)
	}

	// Role change keeps the credentials; a password change raises them.
	viewer := wxfleet.RoleViewer
	a, err := h.UpdateAccount(h.ctx, owner.ID, store.AccountChange{Role: &viewer}, base.Add(time.Minute), nil)
	must(t, err)
	if a.Role != wxfleet.RoleViewer || a.CredentialsVersion != 1 {
		t.Fatalf("after role change: %+v", a)
	}
	newHash := fakeHash + "x"
	up := &wxfleet.AuditEntry{At: base, Action: "account.update", Detail: `{"password":"reset"}`}
	a, err = h.UpdateAccount(h.ctx, owner.ID, store.AccountChange{PasswordHash: &newHash}, base.Add(2*time.Minute), up)
	must(t, err)
	if a.CredentialsVersion != 2 || a.PasswordHash != newHash || !a.PasswordChangedAt.Equal(base.Add(2*time.Minute)) || up.ID == 0 {
		t.Fatalf("after password change: %+v (audit %+v)", a, up)
	}
	merchant := wxfleet.RoleMerchant
	_, err = h.UpdateAccount(h.ctx, owner.ID, store.AccountChange{Role: &merchant}, base, nil)
	wantCode(t, err, wxfleet.EINVALID) // merchant without a tenant
	_, err = h.UpdateAccount(h.ctx, 999, store.AccountChange{Role: &viewer}, base, nil)
	wantCode(t, err, wxfleet.ENOTFOUND)
	n, err := h.CountAccounts(h.ctx, wxfleet.RoleMerchant)
	must(t, err)
	if n != 2 {
		t.Fatalf("%d merchants, want 2", n)
	}
}

func testAccountSessions(t *testing.T, h *harness) {
	a := mustAccount(t, h, "ops@example.com", wxfleet.RoleOperator, 0)
	b := mustAccount(t, h, "other@example.com", wxfleet.RoleOperator, 0)
	login := &wxfleet.AuditEntry{At: base, ActorID: a.ID, ActorName: a.Email, Via: "login", Action: "login.success"}
	must(t, h.CreateAccountSession(h.ctx, "sa", a, base, base.Add(time.Hour), login))
	must(t, h.CreateAccountSession(h.ctx, "sb", b, base, base.Add(time.Hour), nil))
	must(t, h.CreateConsoleSession(h.ctx, "admin", base, base.Add(time.Hour)))
	if login.ID == 0 {
		t.Fatal("the login's audit entry was not written")
	}
	s, err := h.ConsoleSession(h.ctx, "sa", base.Add(time.Minute))
	must(t, err)
	if s.Account == nil || s.Account.ID != a.ID || s.Account.Role != wxfleet.RoleOperator {
		t.Fatalf("session: %+v", s)
	}
	if s, err := h.ConsoleSession(h.ctx, "admin", base); err != nil || s.Account != nil {
		t.Fatalf("admin session: %+v %v", s, err)
	}
	// A new password ends a's sessions (and only a's).
	hash := fakeHash + "2"
	_, err = h.UpdateAccount(h.ctx, a.ID, store.AccountChange{PasswordHash: &hash}, base.Add(time.Minute), nil)
	must(t, err)
	_, err = h.ConsoleSession(h.ctx, "sa", base.Add(2*time.Minute))
	wantCode(t, err, wxfleet.ENOTFOUND)
	if ok, _ := h.ConsoleSessionValid(h.ctx, "sb", base.Add(2*time.Minute)); !ok {
		t.Fatal("another account's session ended with a's password")
	}
	// A session made under the old credentials (a copy of its row survived,
	// say) does not open: its version is behind.
	stale := *a // CredentialsVersion 1
	must(t, h.CreateAccountSession(h.ctx, "stale", &stale, base, base.Add(time.Hour), nil))
	_, err = h.ConsoleSession(h.ctx, "stale", base.Add(2*time.Minute))
	wantCode(t, err, wxfleet.ENOTFOUND)
	// Disabling ends sessions too.
	off := true
	_, err = h.UpdateAccount(h.ctx, b.ID, store.AccountChange{Disabled: &off}, base.Add(time.Minute), nil)
	must(t, err)
	_, err = h.ConsoleSession(h.ctx, "sb", base.Add(2*time.Minute))
	wantCode(t, err, wxfleet.ENOTFOUND)
}

func testAPITokens(t *testing.T, h *harness) {
	a := mustAccount(t, h, "ops@example.com", wxfleet.RoleOperator, 0)
	m := mustAccount(t, h, "m@tenant7.cn", wxfleet.RoleMerchant, 7)
	const secret = "wxf_THISISTHETOKENITSELF0123456"
	tok := &wxfleet.APIToken{AccountID: a.ID, Name: "ci", Role: wxfleet.RoleViewer, Prefix: secret[:8], CreatedBy: a.Email, CreatedAt: base}
	audit := &wxfleet.AuditEntry{At: base, ActorID: a.ID, ActorName: a.Email, Action: "api_token.create"}
	must(t, h.CreateAPIToken(h.ctx, tok, store.APITokenDigest(secret), audit))
	if tok.ID == 0 || audit.Target != store.Itoa(tok.ID) {
		t.Fatalf("token %+v audit %+v", tok, audit)
	}
	mt := &wxfleet.APIToken{AccountID: m.ID, Name: "shop", Role: wxfleet.RoleMerchant, TenantID: 7, Prefix: "wxf_MMMM", CreatedAt: base}
	must(t, h.CreateAPIToken(h.ctx, mt, store.APITokenDigest("wxf_merchant-token"), nil))
	wantCode(t, h.CreateAPIToken(h.ctx, &wxfleet.APIToken{Name: "x", Role: wxfleet.RoleMerchant}, store.APITokenDigest("y"), nil), wxfleet.EINVALID)

	// The database has the digest, never the token.
	db := h.rawDB(t)
	rows, err := db.QueryContext(h.ctx, `SELECT * FROM api_tokens`)
	must(t, err)
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...))
		for i, v := range vals {
			if strings.Contains(cellText(v), "THISISTHETOKENITSELF") {
				t.Fatalf("column %s holds the token in plain text", cols[i])
			}
		}
	}
	rows.Close()

	got, acct, err := h.APITokenByDigest(h.ctx, store.APITokenDigest(secret), base.Add(time.Hour))
	must(t, err)
	if got.ID != tok.ID || got.Role != wxfleet.RoleViewer || acct == nil || acct.ID != a.ID || !got.LastUsed.Equal(base.Add(time.Hour)) {
		t.Fatalf("by digest: %+v %+v", got, acct)
	}
	_, _, err = h.APITokenByDigest(h.ctx, store.APITokenDigest("wxf_unknown"), base)
	wantCode(t, err, wxfleet.ENOTFOUND)

	list, err := h.ListAPITokens(h.ctx, a.ID)
	must(t, err)
	if len(list) != 1 || list[0].ID != tok.ID {
		t.Fatalf("a's tokens: %+v", list)
	}
	if all, _ := h.ListAPITokens(h.ctx, -1); len(all) != 2 {
		t.Fatalf("all tokens: %d, want 2", len(all))
	}
	// Someone else's token is not found for a; the owner (any account) can revoke it.
	wantCode(t, h.DeleteAPIToken(h.ctx, mt.ID, a.ID, nil), wxfleet.ENOTFOUND)

	// A disabled account's tokens stop working.
	off := true
	_, err = h.UpdateAccount(h.ctx, a.ID, store.AccountChange{Disabled: &off}, base, nil)
	must(t, err)
	_, _, err = h.APITokenByDigest(h.ctx, store.APITokenDigest(secret), base)
	wantCode(t, err, wxfleet.ENOTFOUND)

	must(t, h.DeleteAPIToken(h.ctx, mt.ID, -1, &wxfleet.AuditEntry{At: base, Action: "api_token.delete"}))
	_, _, err = h.APITokenByDigest(h.ctx, store.APITokenDigest("wxf_merchant-token"), base)
	wantCode(t, err, wxfleet.ENOTFOUND)
}

func testAuditLog(t *testing.T, h *harness) {
	for i, e := range []wxfleet.AuditEntry{
		{ActorID: 1, ActorName: "ops@example.com", Via: "session", Action: "rollout.create", Target: "1"},
		{ActorID: 2, ActorName: "m@t1.cn", Via: "api_token", Action: "settings.update", TenantID: 1, AppID: "wxapp1"},
		{ActorID: 3, ActorName: "m@t2.cn", Via: "session", Action: "settings.update", TenantID: 2, AppID: "wxapp2"},
		{ActorID: 1, ActorName: "ops@example.com", Via: "session", Action: "rollout.pause", Target: "1", Detail: `{"reason":"x"}`},
		{ActorName: "admin token", Via: "admin_token", Action: "tenant.update", TenantID: 1},
	} {
		e.At = base.Add(time.Duration(i) * time.Second)
		must(t, h.WriteAudit(h.ctx, &e))
	}
	// In a transaction: rolled back with it.
	err := h.InTx(h.ctx, func(tx *store.Tx) error {
		must(t, tx.WriteAudit(h.ctx, &wxfleet.AuditEntry{At: base, Action: "rollout.cancel"}))
		return wxfleet.Errorf(wxfleet.ECONFLICT, "the action failed")
	})
	wantCode(t, err, wxfleet.ECONFLICT)
	wantCode(t, h.WriteAudit(h.ctx, &wxfleet.AuditEntry{At: base, Action: "x", Detail: "not json"}), wxfleet.EINVALID)
	wantCode(t, h.WriteAudit(h.ctx, &wxfleet.AuditEntry{At: base}), wxfleet.EINVALID)

	actions := func(l []*wxfleet.AuditEntry) string {
		var s []string
		for _, e := range l {
			s = append(s, e.Action)
		}
		return strings.Join(s, ",")
	}
	all, err := h.ListAudit(h.ctx, wxfleet.Scope{}, store.AuditFilter{})
	must(t, err)
	if got := actions(all); got != "tenant.update,rollout.pause,settings.update,settings.update,rollout.create" {
		t.Fatalf("all, newest first: %s", got)
	}
	if all[1].Detail != `{"reason":"x"}` || all[2].Detail != "{}" || !all[4].At.Equal(base) || all[1].Target != "1" {
		t.Fatalf("entries: %+v %+v", all[1], all[2])
	}
	page, err := h.ListAudit(h.ctx, wxfleet.Scope{}, store.AuditFilter{Before: all[1].ID, Limit: 2})
	must(t, err)
	if got := actions(page); got != "settings.update,settings.update" {
		t.Fatalf("page after the cursor: %s", got)
	}
	for _, c := range []struct {
		scope wxfleet.Scope
		f     store.AuditFilter
		want  string
	}{
		{wxfleet.Scope{}, store.AuditFilter{Action: "rollout."}, "rollout.pause,rollout.create"},
		{wxfleet.Scope{}, store.AuditFilter{Action: "settings.update"}, "settings.update,settings.update"},
		{wxfleet.Scope{}, store.AuditFilter{ActorID: 1}, "rollout.pause,rollout.create"},
		{wxfleet.Scope{}, store.AuditFilter{ActorName: "m@t2.cn"}, "settings.update"},
		{wxfleet.Scope{}, store.AuditFilter{TenantID: 1}, "tenant.update,settings.update"},
		// A merchant sees its tenant only, whatever it asks for.
		{wxfleet.Scope{TenantID: 1}, store.AuditFilter{}, "tenant.update,settings.update"},
		{wxfleet.Scope{TenantID: 1}, store.AuditFilter{TenantID: 2}, ""},
		{wxfleet.Scope{TenantID: 2}, store.AuditFilter{Action: "settings.update"}, "settings.update"},
	} {
		l, err := h.ListAudit(h.ctx, c.scope, c.f)
		must(t, err)
		if got := actions(l); got != c.want {
			t.Errorf("scope %+v filter %+v: %s, want %s", c.scope, c.f, got, c.want)
		}
	}
}
