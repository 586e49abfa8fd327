package store

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/wxfleet/wxfleet"
)

// maxAuditDetail bounds one entry's detail: the log says what happened, it
// does not archive request bodies.
const maxAuditDetail = 4 << 10

func checkAudit(e *wxfleet.AuditEntry) error {
	if e.Action == "" || len(e.Action) > 100 {
		return invalid("审计动作为空或过长 / audit action empty or too long")
	}
	if e.Detail == "" {
		e.Detail = "{}"
	}
	if len(e.Detail) > maxAuditDetail {
		return invalid("审计详情超过 %d 字节 / audit detail over %d bytes", maxAuditDetail, maxAuditDetail)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(e.Detail), &obj); err != nil {
		return invalid("审计详情须是 JSON 对象 / audit detail must be a JSON object")
	}
	return nil
}

func writeAudit(ctx context.Context, tx *sql.Tx, e *wxfleet.AuditEntry) error {
	if err := checkAudit(e); err != nil {
		return err
	}
	err := tx.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor_id, actor_name, via, action, tenant_id, component_appid, appid,
		target, detail, client_ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		toMillis(e.At), e.ActorID, e.ActorName, e.Via, e.Action, e.TenantID, e.ComponentAppID, e.AppID, e.Target, e.Detail, e.ClientIP,
	).Scan(&e.ID)
	return dbErr("write audit entry", err)
}

// WriteAudit appends e to the audit log on its own, for an action whose
// own transaction is not the store's (it is written right after). It sets e.ID.
func (s *Store) WriteAudit(ctx context.Context, e *wxfleet.AuditEntry) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return writeAudit(ctx, tx, e) })
}

// WriteAudit appends e to the audit log in the transaction, so the entry
// and the action it records commit together.
func (tx *Tx) WriteAudit(ctx context.Context, e *wxfleet.AuditEntry) error {
	return writeAudit(ctx, tx.tx, e)
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	TenantID  int64  // 0: every tenant (within the scope)
	Action    string // exact, or a prefix ending in "." ("rollout.")
	ActorID   int64
	ActorName string
	Before    int64 // the cursor: entries with smaller ids (0: the newest)
	Limit     int
}

const auditColumns = `id, at, actor_id, actor_name, via, action, tenant_id, component_appid, appid, target, detail, client_ip`

// ListAudit lists the audit log within scope, newest first: a merchant's
// scope sees its own tenant's entries only, whatever the filter asks.
func (s *Store) ListAudit(ctx context.Context, scope wxfleet.Scope, f AuditFilter) ([]*wxfleet.AuditEntry, error) {
	var w where
	if !scope.All() {
		w.and("tenant_id = $%d", scope.TenantID)
	}
	if f.TenantID != 0 {
		w.and("tenant_id = $%d", f.TenantID)
	}
	switch {
	case f.Action == "":
	case len(f.Action) > 1 && f.Action[len(f.Action)-1] == '.':
		// A prefix: [action, action+1) keeps the index usable on both databases.
		w.and("action >= $%d", f.Action)
		w.and("action < $%d", f.Action[:len(f.Action)-1]+"/") // '/' follows '.'
	default:
		w.and("action = $%d", f.Action)
	}
	if f.ActorID != 0 {
		w.and("actor_id = $%d", f.ActorID)
	}
	if f.ActorName != "" {
		w.and("actor_name = $%d", f.ActorName)
	}
	if f.Before > 0 {
		w.and("id < $%d", f.Before)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log`+w.sql.String()+
		` ORDER BY id DESC LIMIT `+w.next(clampLimit(f.Limit)), w.args...)
	if err != nil {
		return nil, dbErr("list audit log", err)
	}
	defer rows.Close()
	var out []*wxfleet.AuditEntry
	for rows.Next() {
		var e wxfleet.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.ActorName, &e.Via, &e.Action, &e.TenantID, &e.ComponentAppID, &e.AppID,
			&e.Target, &e.Detail, &e.ClientIP); err != nil {
			return nil, dbErr("scan audit entry", err)
		}
		e.At = fromMillis(at)
		out = append(out, &e)
	}
	return out, dbErr("list audit log", rows.Err())
}
