package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
)

// EventFilter selects a page of a platform's events.
type EventFilter struct {
	AppID  string // only this authorizer's events; "" for all
	Type   string // only this type; "" for all
	Limit  int    // page size; 0 means 50, at most 1000
	Cursor int64  // return ids below this one (the last id of the previous page); 0 for the first page
	// NoCount skips counting the matching events, which reads them all: the
	// total is -1. For a later page whose caller showed the total already.
	NoCount bool
}

// eventChunk is how many events one INSERT carries: at 7 parameters a row, a
// chunk stays far below SQLite's and PostgreSQL's parameter limits.
const eventChunk = 64

// eventColumns is the number of columns InsertEvents writes (id is generated).
const eventColumns = 7

// eventSQLCache holds the multi-row INSERT text for each chunk size, built on
// first use, and the statement prepared from it on the write pool: parsing
// the SQL anew for every batch cost a third of an insert on SQLite.
type eventSQLCache struct {
	// positional makes the SQLite text use anonymous ? parameters: modernc
	// looks up every parameter's name while binding, which for $N costs a
	// scan per parameter, quadratic in a 448-parameter statement.
	positional bool
	// quiet leaves out RETURNING: for AddEvents, which reports nothing.
	quiet bool
	// orIgnore writes SQLite's INSERT OR IGNORE instead of ON CONFLICT DO
	// NOTHING. Both skip a stored dedup key, but an upsert clause leaves the
	// other constraints (NOT NULL) able to abort the statement halfway, so
	// SQLite keeps a statement journal for every multi-row INSERT: a copy
	// of each page before the statement first changes it. OR IGNORE cannot
	// abort, so it needs none; an event cost about a tenth less (6.9 → 6.3
	// µs in 1024-event transactions). Only AddEvents uses it: its rows come
	// from eventArgs, which never binds NULL, so "ignore" can only mean a
	// stored dedup key (the only unique key besides id, which is not bound).
	orIgnore bool
	once     [eventChunk + 1]sync.Once
	sql      [eventChunk + 1]string

	mu    sync.Mutex
	stmts [eventChunk + 1]*sql.Stmt
}

// stmt returns the prepared INSERT for n rows. It must be called with no
// transaction open on db (SQLite's write pool has one connection).
func (c *eventSQLCache) stmt(ctx context.Context, db *sql.DB, n int) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[n]; st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, c.insert(n))
	if err != nil {
		return nil, err
	}
	c.stmts[n] = st
	return st, nil
}

func (c *eventSQLCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, st := range c.stmts {
		if st != nil {
			st.Close()
			c.stmts[i] = nil
		}
	}
}

func (c *eventSQLCache) insert(n int) string {
	c.once[n].Do(func() {
		var b strings.Builder
		if c.orIgnore {
			b.WriteString("INSERT OR IGNORE")
		} else {
			b.WriteString("INSERT")
		}
		b.WriteString(" INTO events (component_appid, appid, type, dedup_key, create_time, received_at, payload) VALUES ")
		p := 1
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for j := range eventColumns {
				if j > 0 {
					b.WriteByte(',')
				}
				if c.positional {
					b.WriteByte('?')
				} else {
					b.WriteByte('$')
					b.WriteString(strconv.Itoa(p))
				}
				p++
			}
			b.WriteByte(')')
		}
		// No conflict target needed beyond the one unique key; naming it keeps
		// a future unique index from silently swallowing rows.
		if !c.orIgnore {
			b.WriteString(" ON CONFLICT (component_appid, dedup_key) DO NOTHING")
		}
		if !c.quiet {
			b.WriteString(" RETURNING id, component_appid, dedup_key")
		}
		c.sql[n] = b.String()
	})
	return c.sql[n]
}

// InsertEvents stores a batch of pushes in one transaction and reports which
// were new: a push whose (component_appid, dedup_key) is already stored, or
// appears earlier in the batch, is skipped (inserted[i] false). Every event
// gets its ID, the existing row's for duplicates. Nothing is changed in evs
// unless the transaction commits.
//
// This is the push ingest's hot path: WeChat gets its ack once this returns,
// so rows go in as multi-row INSERTs, one round trip per 64 events.
func (s *Store) InsertEvents(ctx context.Context, evs []*wxfleet.Event) (inserted []bool, err error) {
	inserted = make([]bool, len(evs))
	if len(evs) == 0 {
		return inserted, nil
	}
	if err := s.checkEvents(ctx, evs); err != nil {
		return nil, err
	}
	stmts, err := s.eventStmts(ctx, &s.eventSQL, len(evs))
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(evs))
	args := make([]any, 0, min(len(evs), eventChunk)*eventColumns)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(evs); start += eventChunk {
			chunk := evs[start:min(start+eventChunk, len(evs))]
			args = eventArgs(args[:0], chunk)
			rows, err := tx.StmtContext(ctx, stmts[len(chunk)]).QueryContext(ctx, args...)
			if err != nil {
				return err
			}
			if err := matchReturned(rows, chunk, inserted[start:], ids[start:]); err != nil {
				return err
			}
		}
		return resolveDuplicates(ctx, tx, evs, inserted, ids)
	})
	if err != nil {
		if isForeignKeyViolation(err) {
			return nil, notFound("事件所属的第三方平台不存在 / an event names a platform that does not exist")
		}
		return nil, dbErr("insert events", err)
	}
	for i, ev := range evs {
		ev.ID = ids[i]
	}
	return inserted, nil
}

// AddEvents stores a batch of pushes in one transaction, skipping those
// whose (component_appid, dedup_key) is already stored, like InsertEvents,
// but reports nothing back: no ids, no which-were-new. It is the ingest
// journal's way in, where the answer was given at append time, and it costs
// about a fifth less than InsertEvents (no RETURNING rows to read and match).
func (s *Store) AddEvents(ctx context.Context, evs []*wxfleet.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if err := s.checkEvents(ctx, evs); err != nil {
		return err
	}
	stmts, err := s.eventStmts(ctx, &s.eventSQLQuiet, len(evs))
	if err != nil {
		return err
	}
	args := make([]any, 0, min(len(evs), eventChunk)*eventColumns)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(evs); start += eventChunk {
			chunk := evs[start:min(start+eventChunk, len(evs))]
			args = eventArgs(args[:0], chunk)
			if _, err := tx.StmtContext(ctx, stmts[len(chunk)]).ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if isForeignKeyViolation(err) {
			return notFound("事件所属的第三方平台不存在 / an event names a platform that does not exist")
		}
		return dbErr("add events", err)
	}
	return nil
}

// checkEvents refuses events without a platform or dedup key and, on SQLite,
// events of an unknown platform: its events table has no foreign key (a
// lookup per row on the hot path), so the platforms are checked here, from a
// cache of the ones seen.
func (s *Store) checkEvents(ctx context.Context, evs []*wxfleet.Event) error {
	for _, ev := range evs {
		if ev == nil || ev.ComponentAppID == "" || ev.DedupKey == "" {
			return invalid("事件缺少 component_appid 或去重键 / an event needs a component_appid and a dedup key")
		}
	}
	if s.dialect == DialectSQLite {
		for _, ev := range evs {
			if err := s.knownPlatform(ctx, ev.ComponentAppID); err != nil {
				return err
			}
		}
	}
	return nil
}

// eventStmts prepares, from cache, the INSERTs a batch of n events needs (one
// per chunk size). Call it before the transaction: on SQLite the transaction
// holds the only write connection.
func (s *Store) eventStmts(ctx context.Context, cache *eventSQLCache, n int) (*[eventChunk + 1]*sql.Stmt, error) {
	var stmts [eventChunk + 1]*sql.Stmt
	for start := 0; start < n; start += eventChunk {
		size := min(eventChunk, n-start)
		if stmts[size] == nil {
			var err error
			if stmts[size], err = cache.stmt(ctx, s.write, size); err != nil {
				return nil, dbErr("prepare event insert", err)
			}
		}
	}
	return &stmts, nil
}

// eventArgs appends a chunk's parameters, eventColumns per event.
func eventArgs(args []any, chunk []*wxfleet.Event) []any {
	for _, ev := range chunk {
		payload := ev.Payload
		if payload == nil {
			payload = []byte{} // NOT NULL column
		}
		args = append(args, ev.ComponentAppID, ev.AppID, ev.Type, ev.DedupKey,
			toMillis(ev.CreateTime), toMillis(ev.ReceivedAt), payload)
	}
	return args
}

// matchReturned marks the rows RETURNING reported as inserted.
func matchReturned(rows *sql.Rows, chunk []*wxfleet.Event, inserted []bool, ids []int64) error {
	defer rows.Close()
	m := matcher{chunk: chunk, inserted: inserted, ids: ids, inStep: true}
	var (
		id        int64
		comp, key string
	)
	for rows.Next() {
		if err := rows.Scan(&id, &comp, &key); err != nil {
			return err
		}
		if err := m.match(id, comp, key); err != nil {
			return err
		}
	}
	return rows.Err()
}

// matcher pairs returned rows with the chunk's events. Within a chunk only the
// first occurrence of a key can be inserted, and each inserted key is returned
// once. Both databases return rows in VALUES order, so while every row so far
// matched the next event in turn, the next event is the one; after any skip (a
// duplicate in the chunk, or another order: it is not guaranteed) each row's
// first occurrence is searched for.
type matcher struct {
	chunk    []*wxfleet.Event
	inserted []bool
	ids      []int64
	next     int
	inStep   bool
}

func (m *matcher) match(id int64, comp, key string) error {
	i := m.next
	if !m.inStep || i >= len(m.chunk) || m.chunk[i].DedupKey != key || m.chunk[i].ComponentAppID != comp {
		m.inStep = false
		for i = 0; i < len(m.chunk); i++ {
			if m.chunk[i].DedupKey == key && m.chunk[i].ComponentAppID == comp {
				break
			}
		}
		if i == len(m.chunk) || m.inserted[i] {
			return errors.New("RETURNING reported a row not in the batch")
		}
	}
	m.inserted[i], m.ids[i] = true, id
	m.next = i + 1
	return nil
}

// resolveDuplicates gives skipped events the id of the row they duplicate:
// an earlier event of the batch, or a row stored before (one lookup each;
// duplicates are WeChat's rare retries).
func resolveDuplicates(ctx context.Context, tx *sql.Tx, evs []*wxfleet.Event, inserted []bool, ids []int64) error {
	var stmt *sql.Stmt
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	for i, ev := range evs {
		if inserted[i] {
			continue
		}
		for j := range i {
			if ids[j] != 0 && evs[j].DedupKey == ev.DedupKey && evs[j].ComponentAppID == ev.ComponentAppID {
				ids[i] = ids[j]
				break
			}
		}
		if ids[i] != 0 {
			continue
		}
		if stmt == nil {
			var err error
			stmt, err = tx.PrepareContext(ctx, `SELECT id FROM events WHERE component_appid = $1 AND dedup_key = $2`)
			if err != nil {
				return err
			}
		}
		if err := stmt.QueryRowContext(ctx, ev.ComponentAppID, ev.DedupKey).Scan(&ids[i]); err != nil {
			return err
		}
	}
	return nil
}

const eventSelect = `SELECT id, component_appid, appid, type, dedup_key, create_time, received_at, payload FROM events`

func scanEvent(row interface{ Scan(...any) error }) (*wxfleet.Event, error) {
	var ev wxfleet.Event
	var created, received int64
	if err := row.Scan(&ev.ID, &ev.ComponentAppID, &ev.AppID, &ev.Type, &ev.DedupKey, &created, &received, &ev.Payload); err != nil {
		return nil, err
	}
	ev.CreateTime, ev.ReceivedAt = fromMillis(created), fromMillis(received)
	if len(ev.Payload) == 0 {
		ev.Payload = nil // as InsertEvents got it, whichever way the driver returns an empty blob
	}
	return &ev, nil
}

// Event returns one stored push of a platform.
func (s *Store) Event(ctx context.Context, componentAppID string, id int64) (*wxfleet.Event, error) {
	ev, err := scanEvent(s.read.QueryRowContext(ctx, eventSelect+` WHERE component_appid = $1 AND id = $2`, componentAppID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("平台 %s 下没有事件 %d / event %d not found under platform %s", componentAppID, id, id, componentAppID)
	}
	if err != nil {
		return nil, dbErr("get event", err)
	}
	return ev, nil
}

// ListEvents returns a page of a platform's events, newest first, and how many
// match the filter in total (all pages), or -1 when f.NoCount.
func (s *Store) ListEvents(ctx context.Context, componentAppID string, f EventFilter) ([]*wxfleet.Event, int, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	if f.AppID != "" {
		w.and("appid = $%d", f.AppID)
	}
	if f.Type != "" {
		w.and("type = $%d", f.Type)
	}
	total := -1
	if !f.NoCount {
		if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`+w.sql.String(), w.args...).Scan(&total); err != nil {
			return nil, 0, dbErr("count events", err)
		}
	}
	if f.Cursor > 0 {
		w.and("id < $%d", f.Cursor)
	}
	q := eventSelect + w.sql.String() + ` ORDER BY id DESC LIMIT ` + w.next(clampLimit(f.Limit))
	rows, err := s.read.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, 0, dbErr("list events", err)
	}
	defer rows.Close()
	var out []*wxfleet.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, 0, dbErr("list events", err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, dbErr("list events", err)
	}
	return out, total, nil
}

// RecentEventKeys returns the keys (component appid + "\x00" + dedup key) of
// the events received since the given time, newest first, at most limit of
// them: the ingest journal seeds its duplicate detection with them at start.
// It reads backwards by id and stops at the first older event, so it costs
// what it returns, whatever the table's size.
func (s *Store) RecentEventKeys(ctx context.Context, since time.Time, limit int) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT component_appid, dedup_key, received_at FROM events ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, dbErr("recent events", err)
	}
	defer rows.Close()
	cut := since.UnixMilli()
	var keys []string
	for rows.Next() {
		var comp, key string
		var received int64
		if err := rows.Scan(&comp, &key, &received); err != nil {
			return nil, dbErr("recent events", err)
		}
		if received < cut {
			break
		}
		keys = append(keys, comp+"\x00"+key)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("recent events", err)
	}
	return keys, nil
}

// knownPlatform returns ENOTFOUND unless componentAppID is a stored
// platform. Platforms are never deleted, so a positive answer is cached.
func (s *Store) knownPlatform(ctx context.Context, componentAppID string) error {
	if _, ok := s.platformSeen.Load(componentAppID); ok {
		return nil
	}
	var one int
	err := s.read.QueryRowContext(ctx, "SELECT 1 FROM platforms WHERE component_appid = $1", componentAppID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("事件所属的第三方平台不存在 / an event names a platform that does not exist")
	}
	if err != nil {
		return dbErr("look up platform", err)
	}
	s.platformSeen.Store(componentAppID, true)
	return nil
}
