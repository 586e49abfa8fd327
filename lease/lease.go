// Package lease runs work under a named database lease, so that one worker at
// a time across every instance does it: refreshing one token, exchanging one
// authorization code. Each acquisition has its own owner token, so two
// goroutines of one process exclude each other exactly as two processes do.
//
// Inside a process, Group lets concurrent callers of the same work share one
// run instead of queueing on the lease one after another.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Store holds the leases (store.Store implements it). AcquireLease must be
// atomic and take the lease only if it is free, expired or already owner's.
type Store interface {
	AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
}

// Defaults of Leases.
const (
	// DefaultTTL is short because the holder renews it every TTL/3 while it
	// works: what it bounds is how long a process killed while holding a
	// lease keeps everyone else out. 15 s is less than the 30 s a waiter
	// tries for, so a crashed holder's work is taken over in one wait.
	DefaultTTL = 15 * time.Second
	// DefaultRetry is the pause between two attempts to take a busy lease.
	DefaultRetry = 200 * time.Millisecond
	// DefaultTries bounds the attempts: 150 × 200 ms is 30 s of waiting,
	// enough for a holder to finish its WeChat call, and for the lease of one
	// that crashed to expire (after TTL).
	DefaultTries = 150
)

// ErrLost is the cause of the context given to the work when its lease was
// taken by someone else (it could not be renewed for a whole TTL).
var ErrLost = errors.New("lease lost: another owner took it")

// Leases takes named leases from a Store. The zero value of each tunable
// field means its default; Store is required.
type Leases struct {
	Store Store
	// Owner prefixes every owner token (e.g. host and process), so a lease
	// row says which instance holds it.
	Owner string
	TTL   time.Duration
	Retry time.Duration
	Tries int
	// Now is the clock lease expiries are computed with.
	Now func() time.Time
	// Wait pauses between attempts; injectable for tests.
	Wait   func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

func (l *Leases) ttl() time.Duration   { return orDefault(l.TTL, DefaultTTL) }
func (l *Leases) retry() time.Duration { return orDefault(l.Retry, DefaultRetry) }

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func (l *Leases) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Leases) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (l *Leases) wait(ctx context.Context, d time.Duration) error {
	if l.Wait != nil {
		return l.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// token is a fresh owner token: the prefix for diagnostics, then 8 random
// bytes, so no two acquisitions ever share an owner.
func (l *Leases) token() string {
	var b [8]byte
	rand.Read(b[:])
	if l.Owner == "" {
		return hex.EncodeToString(b[:])
	}
	return l.Owner + "/" + hex.EncodeToString(b[:])
}

// Do runs fn holding the lease called name, waiting up to Tries attempts for
// it when someone else holds it (an EUNAVAILABLE error after that). While fn
// runs the lease is renewed every TTL/3, so work that outlives the TTL keeps
// it; if it is lost all the same, fn's context is cancelled with ErrLost.
// The lease is released when fn returns, even if ctx was cancelled.
func (l *Leases) Do(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	owner, err := l.acquire(ctx, name)
	if err != nil {
		return err
	}
	defer l.release(ctx, name, owner)
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := l.renew(wctx, cancel, name, owner)
	defer stop()
	return fn(wctx)
}

// TryOnce takes the lease called name for a fresh owner, once, and keeps it
// until it expires: it reports whether it was free. It is for marks such as
// "one forced refresh per five minutes", which are never released.
func (l *Leases) TryOnce(ctx context.Context, name string, ttl time.Duration) (bool, error) {
	return l.Store.AcquireLease(ctx, name, l.token(), ttl, l.now())
}

func (l *Leases) acquire(ctx context.Context, name string) (string, error) {
	owner := l.token()
	tries := l.Tries
	if tries <= 0 {
		tries = DefaultTries
	}
	for attempt := 1; ; attempt++ {
		ok, err := l.Store.AcquireLease(ctx, name, owner, l.ttl(), l.now())
		if err != nil {
			return "", err
		}
		if ok {
			return owner, nil
		}
		if attempt >= tries {
			return "", wxfleet.Errorf(wxfleet.EUNAVAILABLE, "%s 正由另一个请求或实例处理，请稍后重试 / %s is busy in another request or instance; retry shortly", name, name)
		}
		if err := l.wait(ctx, l.retry()); err != nil {
			return "", err
		}
	}
}

func (l *Leases) release(ctx context.Context, name, owner string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := l.Store.ReleaseLease(rctx, name, owner); err != nil {
		l.logger().Warn("releasing a lease failed; it expires by itself", "lease", name, "err", err)
	}
}

// renew extends the lease every TTL/3 of real time until stop is called.
// A failed renewal is retried at the next tick: the lease is lost only once
// someone else took it.
func (l *Leases) renew(ctx context.Context, lost context.CancelCauseFunc, name, owner string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(l.ttl() / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.ttl()/3)
			ok, err := l.Store.AcquireLease(rctx, name, owner, l.ttl(), l.now())
			cancel()
			switch {
			case err != nil:
				l.logger().Warn("renewing a lease failed; retrying", "lease", name, "err", err)
			case !ok:
				l.logger().Error("lease lost while its work was running", "lease", name)
				lost(ErrLost)
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}
