package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"
)

// EventPrune says which of a platform's events PruneEvents removes: those
// received before Before that have a dedup key starting with one of
// Prefixes or a type in Types, and a type not in Keep.
type EventPrune struct {
	Before   time.Time
	Prefixes []string // dedup key prefixes, compared byte for byte
	Types    []string
	Keep     []string
	Limit    int // at most this many rows per call; 0 means 1000
}

// PruneEvents deletes one batch of a platform's events as p selects, oldest
// first, and returns how many it deleted: call it until that is below the
// limit. The newest event of the table is never deleted, so that SQLite
// (plain rowid, no AUTOINCREMENT) never hands out an id again.
//
// The events table has no index on received_at (the ingest pays for every
// index), so the cut is found by id: received_at grows with id, and the first
// event received at or after Before is found by walking ids from the oldest,
// which costs about the rows that are old anyway.
func (s *Store) PruneEvents(ctx context.Context, componentAppID string, p EventPrune) (int, error) {
	if len(p.Prefixes) == 0 && len(p.Types) == 0 {
		return 0, invalid("清理事件需要前缀或类型 / pruning events needs key prefixes or types")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	before := toMillis(p.Before)
	var cut int64
	err := s.read.QueryRowContext(ctx, `SELECT id FROM events WHERE component_appid = $1 AND received_at >= $2 ORDER BY id LIMIT 1`,
		componentAppID, before).Scan(&cut)
	if errors.Is(err, sql.ErrNoRows) {
		if err = s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&cut); err == nil {
			cut++ // every event of the platform is old; MAX(id) itself is spared below
		}
	}
	if err != nil {
		return 0, dbErr("prune events", err)
	}
	args := []any{componentAppID, cut, before}
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var which []string
	for _, pre := range p.Prefixes {
		which = append(which, "substr(dedup_key, 1, "+strconv.Itoa(len(pre))+") = "+param(pre))
	}
	if len(p.Types) > 0 {
		which = append(which, "type IN ("+params(param, p.Types)+")")
	}
	q := `DELETE FROM events WHERE id IN (SELECT id FROM events WHERE component_appid = $1 AND id < $2 AND received_at < $3
		AND id < (SELECT MAX(id) FROM events) AND (` + strings.Join(which, " OR ") + `)`
	if len(p.Keep) > 0 {
		q += " AND type NOT IN (" + params(param, p.Keep) + ")"
	}
	q += " ORDER BY id LIMIT " + param(limit) + ")"
	res, err := s.write.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, dbErr("prune events", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbErr("prune events", err)
	}
	return int(n), nil
}

func params(param func(any) string, vs []string) string {
	ps := make([]string, len(vs))
	for i, v := range vs {
		ps[i] = param(v)
	}
	return strings.Join(ps, ", ")
}
