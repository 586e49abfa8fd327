package push

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxfleet/wxfleet"
)

// EventStore is where accepted pushes are recorded.
type EventStore interface {
	// InsertEvents stores evs in one transaction, skipping the ones whose
	// dedup key is already stored; inserted[i] tells which were new.
	InsertEvents(ctx context.Context, evs []*wxfleet.Event) (inserted []bool, err error)
}

// Committer records pushes with group commit: concurrent requests hand their
// event to one writer goroutine, which stores whatever has queued up in a
// single transaction and then releases every waiting request. A request is
// acknowledged to WeChat only after its batch committed, so "stored before
// ack" holds, while the cost of a commit is shared by the whole batch.
type Committer struct {
	store    EventStore
	maxBatch int
	in       chan *pending
	observe  func(batch int)

	// arriving counts pushes that have begun but not yet reached Record
	// (reading, verifying, decrypting). While some are on their way the
	// writer waits a moment for them: one commit for the lot is far cheaper
	// than one each, and they would wait for the commit in progress anyway.
	arriving  atomic.Int64
	linger    time.Duration
	lastBatch int // size of the previous commit; the writer's own

	mu       sync.RWMutex // held for reading while sending, so Close knows no send is in flight
	closed   bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

type pending struct {
	ev       *wxfleet.Event
	inserted bool
	err      error
	done     chan struct{}
}

var pendingPool = sync.Pool{New: func() any { return &pending{done: make(chan struct{}, 1)} }}

// ErrClosed is returned for events submitted after Close.
var ErrClosed = errors.New("push: committer closed")

// NewCommitter starts a committer writing to store in batches of at most
// maxBatch events. observe, if set, is told each batch's size.
func NewCommitter(store EventStore, maxBatch int, observe func(int)) *Committer {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	c := &Committer{
		store:    store,
		maxBatch: maxBatch,
		in:       make(chan *pending, maxBatch*4),
		observe:  observe,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		linger:   100 * time.Microsecond,
	}
	go c.run()
	return c
}

// Arriving tells the committer a push has begun: it is being read and
// decrypted and may soon call Record. Every Arriving must be followed by one
// Arrived, whether or not the push is recorded.
func (c *Committer) Arriving() { c.arriving.Add(1) }

// Arrived ends what Arriving began; call it just before Record, or when the
// push is refused.
func (c *Committer) Arrived() { c.arriving.Add(-1) }

// Record stores ev and returns whether it was new (false: a retry of a push
// stored before). It returns once the transaction holding ev committed.
func (c *Committer) Record(ctx context.Context, ev *wxfleet.Event) (inserted bool, err error) {
	p := pendingPool.Get().(*pending)
	p.ev, p.inserted, p.err = ev, false, nil
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		pendingPool.Put(p)
		return false, ErrClosed
	}
	select {
	case c.in <- p:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		pendingPool.Put(p)
		return false, ctx.Err()
	}
	// Once queued, the writer owns p until it signals; wait for it even if ctx
	// ends, so p is never reused while the writer still touches it.
	<-p.done
	inserted, err = p.inserted, p.err
	p.ev = nil
	pendingPool.Put(p)
	return inserted, err
}

func (c *Committer) run() {
	defer close(c.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	batch := make([]*pending, 0, c.maxBatch)
	evs := make([]*wxfleet.Event, 0, c.maxBatch)
	for {
		batch = batch[:0]
		select {
		case p := <-c.in:
			batch = append(batch, p)
		case <-c.stop:
			// Drain what was queued before Close.
			for {
				select {
				case p := <-c.in:
					c.flush(append(batch[:0], p), evs)
				default:
					return
				}
			}
		}
		batch = c.fill(batch, timer)
		c.lastBatch = len(batch)
		c.flush(batch, evs)
	}
}

// fill adds what is queued to batch, then, while pushes are still on their
// way (Arriving without Record yet), waits up to the linger time for them.
func (c *Committer) fill(batch []*pending, timer *time.Timer) []*pending {
	lingering := false
	defer func() {
		if lingering && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}()
	for len(batch) < c.maxBatch {
		select {
		case p := <-c.in:
			batch = append(batch, p)
			continue
		default:
		}
		// Alone (nothing on its way and the last commit carried one push):
		// commit at once. Under load, wait: it costs each push up to the
		// linger time and saves most of the commits.
		if c.arriving.Load() <= 0 && c.lastBatch <= 1 {
			return batch
		}
		if !lingering {
			lingering = true
			timer.Reset(c.linger)
		}
		select {
		case p := <-c.in:
			batch = append(batch, p)
		case <-timer.C:
			lingering = false
			return batch
		}
	}
	return batch
}

func (c *Committer) flush(batch []*pending, evs []*wxfleet.Event) {
	evs = evs[:0]
	for _, p := range batch {
		evs = append(evs, p.ev)
	}
	// The batch is written with a context of its own: one request giving up
	// must not abort the others' commit.
	inserted, err := c.store.InsertEvents(context.Background(), evs)
	if c.observe != nil {
		c.observe(len(batch))
	}
	for i, p := range batch {
		if err != nil {
			p.err = err
		} else {
			p.inserted = inserted[i]
		}
		p.done <- struct{}{}
	}
}

// Close stops accepting events, stores the queued ones and waits for the writer.
func (c *Committer) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
}
