package sandbox

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver (pure Go)
)

// The sandbox keeps its state in its own SQLite file, {DataDir}/sandbox.db:
// one row per account, authorization, code, user book, outbox entry and quota
// counter, each value sealed (seal.go). A change writes only its rows.
//
// Durability: every change records its row in a dirty set under Sandbox.mu; one
// writer goroutine takes the whole set, writes it in one transaction and
// commits with synchronous=FULL (fsync of the WAL). An emulated WeChat API that
// changed state answers only after that commit (the api wrapper waits for it),
// and so do the control calls and pushes that hand a code or token to the
// platform: what the platform was told survives a crash of the sandbox, even a
// power loss. Under load many changes share one commit (group commit), so the
// wait costs one fsync, not one per change.

const dbFile = "sandbox.db"

// legacyFile is the JSON state file of earlier versions, imported on first start.
const legacyFile = "sandbox.json"

const dbParams = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
	"&_pragma=journal_size_limit(16777216)&_pragma=cache_size(-4096)&_txlock=immediate"

// stateDB is the state database.
type stateDB struct {
	db   *sql.DB
	seal *sealer
}

func openStateDB(path string, seal *sealer) (*stateDB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?"+dbParams)
	if err != nil {
		return nil, fmt.Errorf("sandbox: opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1) // one writer; reads happen once, at start
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID`); err != nil {
		db.Close()
		return nil, fmt.Errorf("sandbox: %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, err
	}
	return &stateDB{db: db, seal: seal}, nil
}

// row is one state row to write; a nil value deletes it.
type row struct {
	key   string
	value []byte
}

// writeChunks stores, in one transaction, the rows that produce yields in
// chunks, sealing each value bound to its key.
func (d *stateDB) writeChunks(ctx context.Context, produce func(yield func([]row) error) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	put, err := tx.PrepareContext(ctx, `INSERT INTO state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`)
	if err != nil {
		return err
	}
	defer put.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM state WHERE key = $1`)
	if err != nil {
		return err
	}
	defer del.Close()
	err = produce(func(rows []row) error {
		for _, r := range rows {
			var err error
			if r.value == nil {
				_, err = del.ExecContext(ctx, r.key)
			} else {
				var sealed []byte
				if sealed, err = d.seal.seal(r.value, []byte(r.key)); err == nil {
					_, err = put.ExecContext(ctx, r.key, sealed)
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Commit()
}

// load calls fn with every row, opened.
func (d *stateDB) load(fn func(key string, value []byte) error) (n int, err error) {
	rows, err := d.db.Query(`SELECT key, value FROM state`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var sealed []byte
		if err := rows.Scan(&key, &sealed); err != nil {
			return n, err
		}
		plain, err := d.seal.open(sealed, []byte(key))
		if err != nil {
			return n, fmt.Errorf("sandbox: state row %q: %w", key, err)
		}
		if err := fn(key, plain); err != nil {
			return n, fmt.Errorf("sandbox: state row %q: %w", key, err)
		}
		n++
	}
	return n, rows.Err()
}

func (d *stateDB) close() error { return d.db.Close() }

// ref names one piece of state that changed: a kind and up to two ids.
// Codes are named by their digest (codeID), in memory as in the database.
type ref struct {
	kind string
	a, b string
}

// Kinds of state rows.
const (
	kMeta        = "meta"
	kAccount     = "account"      // a: appid
	kComponent   = "component"    // a: component appid (tickets, tokens, whitelist)
	kAuthz       = "authz"        // a: component, b: authorizer appid
	kPreAuth     = "preauth"      // a: component, b: code digest (hex)
	kAuthCode    = "authcode"     // a: component, b: code digest (hex)
	kUsers       = "users"        // a: authorizer appid
	kOutbox      = "outbox"       // a: sequence number
	kQuotaLimits = "quota-limits" //
	kQuotaUsed   = "quota-used"   // a: account, b: path
	kQuotaResets = "quota-resets" // a: account
	kLoginCode   = "logincode"    // a: code digest (hex)
)

func (r ref) key() string {
	switch r.kind {
	case kMeta, kQuotaLimits:
		return r.kind
	case kAuthz, kQuotaUsed, kPreAuth, kAuthCode:
		return r.kind + "/" + r.a + "/" + r.b
	}
	return r.kind + "/" + r.a
}

// meta is the state's scalar part.
type meta struct {
	Version     int           `json:"version"`
	ClockOffset time.Duration `json:"clock_offset"`
	NextMsgID   int64         `json:"next_msg_id"`
	NextSeq     int64         `json:"next_seq"`
}

// value returns what r names now, nil when it is gone. Callers hold Sandbox.mu.
func (st *state) value(r ref) any {
	var v any
	switch r.kind {
	case kMeta:
		return meta{Version: 2, ClockOffset: st.ClockOffset, NextMsgID: st.NextMsgID, NextSeq: st.nextSeq}
	case kAccount:
		if seq, ok := st.bulk[r.a]; ok {
			return account{AppID: r.a, Bulk: true, Seq: seq} // the rest is derived
		}
		v = st.accounts[r.a]
	case kComponent:
		v = st.Components[r.a]
	case kAuthz:
		if cs := st.Components[r.a]; cs != nil {
			v = cs.Authorizations[r.b]
		}
	case kPreAuth, kAuthCode:
		cs := st.Components[r.a]
		if cs == nil {
			return nil
		}
		book := &cs.AuthCodes
		if r.kind == kPreAuth {
			book = &cs.PreAuthCodes
		}
		var id codeID
		hex.Decode(id[:], []byte(r.b))
		if c, ok := book.byID[id]; ok {
			return c
		}
		return nil
	case kUsers:
		v = st.Users[r.a]
	case kOutbox:
		seq, _ := strconv.ParseInt(r.a, 10, 64)
		i, found := slices.BinarySearchFunc(st.Outbox, seq, func(e outboxEntry, seq int64) int { return cmp.Compare(e.Seq, seq) })
		if !found {
			return nil
		}
		return &st.Outbox[i]
	case kQuotaLimits:
		return st.Quota.Limits
	case kQuotaUsed:
		v = st.Quota.Used[r.a+" "+r.b]
	case kQuotaResets:
		v = st.Quota.Resets[r.a]
	case kLoginCode:
		var id codeID
		hex.Decode(id[:], []byte(r.a))
		v = st.LoginCodes.byID[id]
	}
	return nonNil(v)
}

// nonNil turns a typed nil pointer inside an interface into a plain nil.
func nonNil(v any) any {
	switch p := v.(type) {
	case *account:
		if p == nil {
			return nil
		}
	case *componentState:
		if p == nil {
			return nil
		}
	case *authorization:
		if p == nil {
			return nil
		}
	case *appUsers:
		if p == nil {
			return nil
		}
	case *quotaUse:
		if p == nil {
			return nil
		}
	case *loginCode:
		if p == nil {
			return nil
		}
	}
	return v
}

// loadRow puts one stored row back into the state.
func (st *state) loadRow(key string, data []byte) error {
	kind, rest, _ := strings.Cut(key, "/")
	a, b, _ := strings.Cut(rest, "/")
	switch kind {
	case kMeta:
		m, err := decodeRow[meta](data)
		if err == nil {
			st.ClockOffset, st.NextMsgID, st.nextSeq = m.ClockOffset, m.NextMsgID, m.NextSeq
		}
		return err
	case kAccount:
		acc, err := decodeRow[account](data)
		if err == nil && acc.Bulk {
			st.bulk[acc.AppID] = acc.Seq
		} else if err == nil {
			st.accounts[acc.AppID] = acc
		}
		return err
	case kComponent:
		return json.Unmarshal(data, st.ensureComponent(a))
	case kAuthz:
		authz, err := decodeRow[authorization](data)
		if err == nil {
			st.loadAuthorization(a, authz)
		}
		return err
	case kPreAuth, kAuthCode:
		return st.loadCode(kind, a, b, data)
	case kUsers:
		u, err := decodeRow[appUsers](data)
		if err == nil {
			st.Users[a] = u
		}
		return err
	case kOutbox:
		e, err := decodeRow[outboxEntry](data)
		if err == nil {
			st.Outbox = append(st.Outbox, *e)
		}
		return err
	case kQuotaLimits:
		return json.Unmarshal(data, &st.Quota.Limits)
	case kQuotaUsed, kQuotaResets:
		u, err := decodeRow[quotaUse](data)
		if err == nil {
			st.loadQuota(kind, a, b, u)
		}
		return err
	case kLoginCode:
		var id codeID
		if n, err := hex.Decode(id[:], []byte(a)); err != nil || n != len(id) {
			return errors.New("malformed code digest")
		}
		c, err := decodeRow[loginCode](data)
		if err == nil {
			st.LoginCodes.put(id, c)
		}
		return err
	}
	return fmt.Errorf("unknown kind %q", kind)
}

func decodeRow[T any](data []byte) (*T, error) {
	v := new(T)
	return v, json.Unmarshal(data, v)
}

func (st *state) loadAuthorization(component string, authz *authorization) {
	authz.component = component
	authz.FuncInfo = st.internFuncs(authz.FuncInfo)
	st.ensureComponent(component).Authorizations[authz.AppID] = authz
	for _, t := range authz.AccessTokens {
		st.tokens[codeIDOf(t.Value)] = authz
	}
}

func (st *state) loadCode(kind, component, digest string, data []byte) error {
	var id codeID
	if n, err := hex.Decode(id[:], []byte(digest)); err != nil || n != len(id) {
		return errors.New("malformed code digest")
	}
	c, err := decodeRow[code](data)
	if err != nil {
		return err
	}
	cs := st.ensureComponent(component)
	if kind == kPreAuth {
		cs.PreAuthCodes.put(id, *c)
	} else {
		cs.AuthCodes.put(id, *c)
	}
	return nil
}

func (st *state) loadQuota(kind, account, path string, u *quotaUse) {
	if kind == kQuotaResets {
		if st.Quota.Resets == nil {
			st.Quota.Resets = map[string]*quotaUse{}
		}
		st.Quota.Resets[account] = u
		return
	}
	if st.Quota.Used == nil {
		st.Quota.Used = map[string]*quotaUse{}
	}
	st.Quota.Used[account+" "+path] = u
}

// finishLoad restores what rows do not store in order: the account listing
// and the issue order of codes and outbox entries.
func (st *state) finishLoad() {
	st.order = st.order[:0]
	for id := range st.accounts {
		st.order = append(st.order, id)
	}
	for id := range st.bulk {
		st.order = append(st.order, id)
	}
	sortBySeq(st.order, func(id string) int64 {
		if seq, ok := st.bulk[id]; ok {
			return seq
		}
		return st.accounts[id].Seq
	})
	sortBySeq(st.Outbox, func(e outboxEntry) int64 { return e.Seq })
	for _, cs := range st.Components {
		cs.PreAuthCodes.sortByIssue()
		cs.AuthCodes.sortByIssue()
	}
	st.LoginCodes.sortByIssue()
}

// loadState opens the state: rows from the database, else an imported
// sandbox.json, else a fresh seed. It returns the refs to write before
// serving (everything, when nothing was stored yet), and whether it imported
// sandbox.json.
func loadState(dir string, db *stateDB, seal *sealer) (st *state, dirty []ref, imported bool, err error) {
	st = newState()
	n, err := db.load(st.loadRow)
	if err != nil {
		return nil, nil, false, err
	}
	if n == 0 {
		old, err := importLegacy(filepath.Join(dir, legacyFile), seal)
		switch {
		case errors.Is(err, os.ErrNotExist):
			st.seedNew()
		case err != nil:
			return nil, nil, false, err
		default:
			st, imported = old, true
		}
		dirty = st.allRefs()
	} else if fileExists(filepath.Join(dir, legacyFile)) {
		// Rows exist, so an earlier start imported the file and stopped
		// before renaming it: finish that.
		imported = true
	}
	st.finishLoad()
	// Accounts added to the seed after the state was written appear too;
	// existing ones keep whatever the state says.
	for _, a := range seedAccounts() {
		if st.account(a.AppID) == nil {
			st.addAccount(a)
			dirty = append(dirty, ref{kind: kAccount, a: a.AppID})
		}
	}
	return st, append(dirty, ref{kind: kMeta}), imported, nil
}

func (st *state) seedNew() {
	for _, a := range seedAccounts() {
		st.addAccount(a)
	}
}

// allRefs names every row of the state, to write it all once.
func (st *state) allRefs() []ref {
	refs := []ref{{kind: kMeta}, {kind: kQuotaLimits}}
	for _, id := range st.order {
		refs = append(refs, ref{kind: kAccount, a: id})
	}
	for id, cs := range st.Components {
		refs = append(refs, ref{kind: kComponent, a: id})
		for appid := range cs.Authorizations {
			refs = append(refs, ref{kind: kAuthz, a: id, b: appid})
		}
		for c := range cs.PreAuthCodes.byID {
			refs = append(refs, codeRef(kPreAuth, id, c))
		}
		for c := range cs.AuthCodes.byID {
			refs = append(refs, codeRef(kAuthCode, id, c))
		}
	}
	for id := range st.Users {
		refs = append(refs, ref{kind: kUsers, a: id})
	}
	for _, e := range st.Outbox {
		refs = append(refs, outboxRef(e.Seq))
	}
	for k := range st.Quota.Used {
		acct, path, _ := strings.Cut(k, " ")
		refs = append(refs, ref{kind: kQuotaUsed, a: acct, b: path})
	}
	for acct := range st.Quota.Resets {
		refs = append(refs, ref{kind: kQuotaResets, a: acct})
	}
	for id := range st.LoginCodes.byID {
		refs = append(refs, loginRef(id))
	}
	return refs
}

func outboxRef(seq int64) ref { return ref{kind: kOutbox, a: strconv.FormatInt(seq, 10)} }

func sortBySeq[T any](list []T, seq func(T) int64) {
	slices.SortFunc(list, func(x, y T) int { return cmp.Compare(seq(x), seq(y)) })
}

func codeRef(kind, component string, id codeID) ref {
	return ref{kind: kind, a: component, b: id.String()}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
