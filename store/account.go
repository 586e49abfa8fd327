package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/wxfleet/wxfleet"
)

const accountColumns = `id, email, name, role, tenant_id, password_hash, disabled, credentials_version, created_at, updated_at, password_changed_at`

func scanAccount(row interface{ Scan(...any) error }) (*wxfleet.Account, error) {
	var a wxfleet.Account
	var role string
	var disabled int64
	var created, updated, pw int64
	if err := row.Scan(&a.ID, &a.Email, &a.Name, &role, &a.TenantID, &a.PasswordHash, &disabled, &a.CredentialsVersion,
		&created, &updated, &pw); err != nil {
		return nil, err
	}
	a.Role, a.Disabled = wxfleet.Role(role), disabled != 0
	a.CreatedAt, a.UpdatedAt, a.PasswordChangedAt = fromMillis(created), fromMillis(updated), fromMillis(pw)
	return &a, nil
}

// NormalizeEmail is the form accounts are stored and looked up by.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// checkAccount validates what CreateAccount and UpdateAccount store.
func checkAccount(a *wxfleet.Account) error {
	if a.Email == "" || len(a.Email) > 254 || !strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t\r\n") {
		return invalid("帐号须是电子邮件地址 / the account must be an email address")
	}
	if len(a.Name) > 200 {
		return invalid("名字最长 200 字节 / the name may have at most 200 bytes")
	}
	if !a.Role.Valid() {
		return invalid("未知角色 %q（owner、operator、viewer、merchant）/ unknown role %q (owner, operator, viewer, merchant)", a.Role, a.Role)
	}
	if a.Role == wxfleet.RoleMerchant && a.TenantID <= 0 {
		return invalid("商户帐号须指定 tenant_id / a merchant account needs its tenant_id")
	}
	if a.Role != wxfleet.RoleMerchant && a.TenantID != 0 {
		return invalid("只有商户帐号属于租户 / only merchant accounts belong to a tenant")
	}
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$") {
		return invalid("密码哈希无效 / invalid password hash")
	}
	return nil
}

// isUniqueViolation tells whether err is a UNIQUE (or primary key) failure,
// on either database.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == 2067 || se.Code() == 1555 // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505" // unique_violation
	}
	return false
}

// CreateAccount stores a new account (its email normalized) and, in the same
// transaction, the audit entry audit when not nil. It sets a.ID. An email
// that is taken is ECONFLICT.
func (s *Store) CreateAccount(ctx context.Context, a *wxfleet.Account, audit *wxfleet.AuditEntry) error {
	a.Email = NormalizeEmail(a.Email)
	if err := checkAccount(a); err != nil {
		return err
	}
	if a.CredentialsVersion == 0 {
		a.CredentialsVersion = 1
	}
	if a.PasswordChangedAt.IsZero() {
		a.PasswordChangedAt = a.CreatedAt
	}
	a.UpdatedAt = a.CreatedAt
	return s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO accounts (email, name, role, tenant_id, password_hash, disabled,
			credentials_version, created_at, updated_at, password_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
			a.Email, a.Name, string(a.Role), a.TenantID, a.PasswordHash, boolInt(a.Disabled), a.CredentialsVersion,
			toMillis(a.CreatedAt), toMillis(a.UpdatedAt), toMillis(a.PasswordChangedAt)).Scan(&a.ID)
		if isUniqueViolation(err) {
			return wxfleet.Errorf(wxfleet.ECONFLICT, "帐号 %s 已存在 / account %s exists already", a.Email, a.Email)
		}
		if err != nil {
			return dbErr("create account", err)
		}
		if audit != nil {
			audit.Target = itoa(a.ID)
			return writeAudit(ctx, tx, audit)
		}
		return nil
	})
}

// Account reads one account by id, within scope (a merchant's scope sees
// only its tenant's accounts).
func (s *Store) Account(ctx context.Context, scope wxfleet.Scope, id int64) (*wxfleet.Account, error) {
	q := `SELECT ` + accountColumns + ` FROM accounts WHERE id = $1`
	args := []any{id}
	if !scope.All() {
		q += ` AND tenant_id = $2`
		args = append(args, scope.TenantID)
	}
	a, err := scanAccount(s.read.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("没有这个帐号 / no account %d", id)
	}
	return a, dbErr("read account", err)
}

// AccountByEmail reads the account signing in with email (any tenant: the
// sign-in page does not know the tenant yet).
func (s *Store) AccountByEmail(ctx context.Context, email string) (*wxfleet.Account, error) {
	a, err := scanAccount(s.read.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE email = $1`, NormalizeEmail(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("没有这个帐号 / no such account")
	}
	return a, dbErr("read account by email", err)
}

// ListAccounts lists the accounts within scope by id, after the id cursor
// (0: from the start), at most limit.
func (s *Store) ListAccounts(ctx context.Context, scope wxfleet.Scope, after int64, limit int) ([]*wxfleet.Account, error) {
	var w where
	w.and("id > $%d", after)
	if !scope.All() {
		w.and("tenant_id = $%d", scope.TenantID)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts`+w.sql.String()+` ORDER BY id LIMIT `+w.next(clampLimit(limit)), w.args...)
	if err != nil {
		return nil, dbErr("list accounts", err)
	}
	defer rows.Close()
	var out []*wxfleet.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, dbErr("scan account", err)
		}
		out = append(out, a)
	}
	return out, dbErr("list accounts", rows.Err())
}

// AccountChange is what UpdateAccount changes; nil fields stay.
type AccountChange struct {
	Name         *string
	Role         *wxfleet.Role
	TenantID     *int64
	Disabled     *bool
	PasswordHash *string
}

// UpdateAccount changes account id and, in the same transaction, writes
// audit (when not nil). A new password or disabling the account raises its
// credentials version and ends its console sessions, so every browser
// signed in with the old password is signed out; its API tokens stop
// working while it is disabled (they are checked against it on each use).
func (s *Store) UpdateAccount(ctx context.Context, id int64, c AccountChange, now time.Time, audit *wxfleet.AuditEntry) (*wxfleet.Account, error) {
	var out *wxfleet.Account
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := scanAccount(tx.QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("没有这个帐号 / no account %d", id)
		}
		if err != nil {
			return dbErr("read account", err)
		}
		endSessions := false
		if c.Name != nil {
			a.Name = *c.Name
		}
		if c.Role != nil {
			a.Role = *c.Role
		}
		if c.TenantID != nil {
			a.TenantID = *c.TenantID
		}
		if c.Disabled != nil {
			if *c.Disabled && !a.Disabled {
				endSessions = true
			}
			a.Disabled = *c.Disabled
		}
		if c.PasswordHash != nil {
			a.PasswordHash, a.PasswordChangedAt = *c.PasswordHash, now
			endSessions = true
		}
		if err := checkAccount(a); err != nil {
			return err
		}
		if endSessions {
			a.CredentialsVersion++
		}
		a.UpdatedAt = now
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET name = $1, role = $2, tenant_id = $3, disabled = $4, password_hash = $5,
			password_changed_at = $6, credentials_version = $7, updated_at = $8 WHERE id = $9`,
			a.Name, string(a.Role), a.TenantID, boolInt(a.Disabled), a.PasswordHash, toMillis(a.PasswordChangedAt),
			a.CredentialsVersion, toMillis(now), id); err != nil {
			return dbErr("update account", err)
		}
		if endSessions {
			if _, err := tx.ExecContext(ctx, `DELETE FROM console_sessions WHERE account_id = $1`, id); err != nil {
				return dbErr("end account sessions", err)
			}
		}
		if audit != nil {
			audit.Target = itoa(id)
			if err := writeAudit(ctx, tx, audit); err != nil {
				return err
			}
		}
		out = a
		return nil
	})
	return out, err
}

// CountAccounts counts accounts of role r that are not disabled (the last
// owner must not lock everyone out).
func (s *Store) CountAccounts(ctx context.Context, r wxfleet.Role) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE role = $1 AND disabled = 0`, string(r)).Scan(&n)
	return n, dbErr("count accounts", err)
}
