package lease_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/lease"
	"github.com/wxfleet/wxfleet/store/storetest"
)

func fastWait(ctx context.Context, _ time.Duration) error {
	time.Sleep(time.Millisecond)
	return ctx.Err()
}

// Goroutines of one process sharing one Leases (one Owner) exclude each
// other: every acquisition has its own owner token.
func TestAcquisitionsExcludeEachOther(t *testing.T) {
	storetest.Run(t, testAcquisitionsExcludeEachOther)
}

func testAcquisitionsExcludeEachOther(t *testing.T, b storetest.Backend) {
	l := &lease.Leases{Store: b.New(t), Owner: "host-1", Wait: fastWait, Tries: 100000}
	var active, most, runs atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := l.Do(context.Background(), "work", func(ctx context.Context) error {
				n := active.Add(1)
				defer active.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(5 * time.Millisecond) // give a second holder a chance to show up
				runs.Add(1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 || runs.Load() != 8 {
		t.Fatalf("%d runs, at most %d at once; want 8 runs, one at a time", runs.Load(), most.Load())
	}
}

// A lease held elsewhere is waited for Tries attempts, then refused.
func TestBusyLeaseGivesUp(t *testing.T) { storetest.Run(t, testBusyLeaseGivesUp) }

func testBusyLeaseGivesUp(t *testing.T, b storetest.Backend) {
	st := b.New(t)
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	if ok, err := st.AcquireLease(context.Background(), "work", "other-instance", time.Minute, now); !ok || err != nil {
		t.Fatal(ok, err)
	}
	var waits atomic.Int32
	l := &lease.Leases{Store: st, Owner: "host-1", Tries: 3, Now: func() time.Time { return now },
		Wait: func(ctx context.Context, d time.Duration) error {
			if d != lease.DefaultRetry {
				t.Errorf("waited %v between attempts, want %v", d, lease.DefaultRetry)
			}
			waits.Add(1)
			return nil
		}}
	ran := false
	err := l.Do(context.Background(), "work", func(context.Context) error { ran = true; return nil })
	if wxfleet.ErrorCode(err) != wxfleet.EUNAVAILABLE || ran || waits.Load() != 2 {
		t.Fatalf("err %v, ran %v, %d waits; want EUNAVAILABLE after 3 tries (2 waits), not run", err, ran, waits.Load())
	}
	// Once it expires, it is taken and released after the work.
	now = now.Add(time.Minute)
	if err := l.Do(context.Background(), "work", func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("expired lease: err %v, ran %v", err, ran)
	}
	if ok, _ := st.AcquireLease(context.Background(), "work", "third", time.Minute, now); !ok {
		t.Fatal("the lease was not released after the work")
	}
}

// Work that outlives the TTL keeps its lease by renewing it.
func TestLongWorkRenewsItsLease(t *testing.T) { storetest.Run(t, testLongWorkRenewsItsLease) }

func testLongWorkRenewsItsLease(t *testing.T, b storetest.Backend) {
	st := b.New(t)
	const ttl = time.Second
	l := &lease.Leases{Store: st, Owner: "host-1", TTL: ttl}
	err := l.Do(context.Background(), "work", func(ctx context.Context) error {
		start := time.Now()
		for time.Since(start) < 3*ttl {
			if ok, err := st.AcquireLease(ctx, "work", "intruder", ttl, time.Now()); err != nil || ok {
				return errors.New("the intruder took a lease still in use")
			}
			time.Sleep(50 * time.Millisecond)
		}
		return ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// When the lease is taken all the same, the work's context says so.
func TestLostLeaseCancelsTheWork(t *testing.T) { storetest.Run(t, testLostLeaseCancelsTheWork) }

func testLostLeaseCancelsTheWork(t *testing.T, b storetest.Backend) {
	st := b.New(t)
	const ttl = 300 * time.Millisecond
	l := &lease.Leases{Store: st, Owner: "host-1", TTL: ttl}
	err := l.Do(context.Background(), "work", func(ctx context.Context) error {
		// Someone whose clock is past the lease's expiry takes it.
		if ok, err := st.AcquireLease(ctx, "work", "intruder", time.Hour, time.Now().Add(time.Minute)); err != nil || !ok {
			t.Fatalf("intruder: %v, %v", ok, err)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(time.Minute):
			return errors.New("the work was not told its lease was lost")
		}
	})
	if !errors.Is(err, lease.ErrLost) {
		t.Fatalf("err = %v, want ErrLost", err)
	}
	// Releasing must not free the intruder's lease.
	if ok, _ := st.AcquireLease(context.Background(), "work", "third", time.Minute, time.Now()); ok {
		t.Fatal("the lost lease's release freed the new owner's lease")
	}
}
