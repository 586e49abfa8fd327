package store

import (
	"context"
	"time"
)

// AcquireLease takes the lease called name for owner until now+ttl, if it is
// free, expired, or already owner's (then it is extended). It reports whether
// owner holds the lease afterwards. The check and the take are one statement,
// so two instances can never both succeed.
//
// Leases keep one refresher per token across instances and goroutines; by
// convention the name carries the platform (e.g. "component_token:wx123").
// Because the lease is re-entrant for its owner (that is how it is renewed),
// owner must be unique per acquisition, never one id per process: package
// lease makes a fresh owner token each time.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return false, invalid("租约需要名称、持有者和正的时长 / a lease needs a name, an owner and a positive ttl")
	}
	res, err := s.write.ExecContext(ctx, `
		INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE leases.owner = excluded.owner OR leases.expires_at <= $4`,
		name, owner, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, dbErr("acquire lease", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbErr("acquire lease", err)
	}
	return n == 1, nil
}

// ReleaseLease gives the lease up if owner holds it; otherwise it does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND owner = $2`, name, owner)
	return dbErr("release lease", err)
}
