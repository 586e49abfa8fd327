package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// ReserveSlot reserves the next free slot of the budget called name, whose
// slots are interval apart: it returns when the caller may make its call (now
// or later). If that is more than maxAhead from now, nothing is reserved and
// ok is false: the caller should come back later rather than wait that long.
// The check and the reservation are one statement, so instances sharing the
// database never hand out the same slot.
func (s *Store) ReserveSlot(ctx context.Context, name string, interval time.Duration, now time.Time, maxAhead time.Duration) (at time.Time, ok bool, err error) {
	if name == "" || interval <= 0 {
		return time.Time{}, false, invalid("预留调用配额需要名称和正的间隔 / a slot needs a name and a positive interval")
	}
	n, iv, ahead := now.UnixMilli(), interval.Milliseconds(), maxAhead.Milliseconds()
	if iv == 0 {
		iv = 1
	}
	var next int64
	err = s.write.QueryRowContext(ctx, `
		INSERT INTO rate_slots (name, next_at) VALUES ($1, CAST($2 AS BIGINT) + CAST($3 AS BIGINT))
		ON CONFLICT (name) DO UPDATE
			SET next_at = (CASE WHEN rate_slots.next_at > CAST($2 AS BIGINT) THEN rate_slots.next_at ELSE CAST($2 AS BIGINT) END) + CAST($3 AS BIGINT)
			WHERE (CASE WHEN rate_slots.next_at > CAST($2 AS BIGINT) THEN rate_slots.next_at ELSE CAST($2 AS BIGINT) END) - CAST($2 AS BIGINT) <= CAST($4 AS BIGINT)
		RETURNING next_at - CAST($3 AS BIGINT)`, name, n, iv, ahead).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, dbErr("reserve slot", err)
	}
	return time.UnixMilli(next).UTC(), true, nil
}
