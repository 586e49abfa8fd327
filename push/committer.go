package push

import (
	"context"
	"errors"
	"sync"

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
	}
	go c.run()
	return c
}

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
	fill:
		for len(batch) < c.maxBatch {
			select {
			case p := <-c.in:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		c.flush(batch, evs)
	}
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
