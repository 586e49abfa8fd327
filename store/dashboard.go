package store

import (
	"context"
	"time"

	"github.com/wxfleet/wxfleet"
)

// AuthorizerStatusCounts counts a platform's authorizers by status: one
// grouped read of the (component_appid, status, appid) index.
func (s *Store) AuthorizerStatusCounts(ctx context.Context, componentAppID string) (map[wxfleet.AuthorizerStatus]int, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT status, COUNT(*) FROM authorizers WHERE component_appid = $1 GROUP BY status`, componentAppID)
	if err != nil {
		return nil, dbErr("authorizer status counts", err)
	}
	defer rows.Close()
	out := map[wxfleet.AuthorizerStatus]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, dbErr("authorizer status counts", err)
		}
		out[wxfleet.AuthorizerStatus(st)] = n
	}
	return out, dbErr("authorizer status counts", rows.Err())
}

// NextTokenExpiry is the earliest access-token expiry among a platform's
// authorized mini programs (zero when there is none): the refresher's next
// piece of work is due a margin before it.
func (s *Store) NextTokenExpiry(ctx context.Context, componentAppID string) (time.Time, error) {
	var ms *int64
	err := s.read.QueryRowContext(ctx,
		`SELECT MIN(token_expires_at) FROM authorizers WHERE status = $1 AND component_appid = $2`,
		wxfleet.StatusAuthorized, componentAppID).Scan(&ms)
	if err != nil {
		return time.Time{}, dbErr("next token expiry", err)
	}
	if ms == nil {
		return time.Time{}, nil
	}
	return fromMillis(*ms), nil
}

// pushWindowRows bounds the pushes-per-minute read: it scans at most this
// many of the newest events by primary key (received_at has no index: the
// ingest path pays for every index on events), which covers an hour up to
// about 28 pushes a second; a busier platform's chart shows fewer minutes.
const pushWindowRows = 100_000

// PushesPerMinute counts the pushes a platform received in each of the
// minutes minutes up to now, oldest first.
func (s *Store) PushesPerMinute(ctx context.Context, componentAppID string, now time.Time, minutes int) ([]int, error) {
	since := now.Add(-time.Duration(minutes) * time.Minute).Truncate(time.Minute).Add(time.Minute)
	rows, err := s.read.QueryContext(ctx, `
		SELECT received_at FROM events
		WHERE id > (SELECT COALESCE(MAX(id), 0) FROM events) - $1
		  AND component_appid = $2 AND received_at >= $3`,
		pushWindowRows, componentAppID, since.UnixMilli())
	if err != nil {
		return nil, dbErr("pushes per minute", err)
	}
	defer rows.Close()
	out := make([]int, minutes)
	base := since.UnixMilli()
	for rows.Next() {
		var at int64
		if err := rows.Scan(&at); err != nil {
			return nil, dbErr("pushes per minute", err)
		}
		if i := int((at - base) / 60_000); i >= 0 && i < minutes {
			out[i]++
		}
	}
	return out, dbErr("pushes per minute", rows.Err())
}
