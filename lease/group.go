package lease

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Group shares one run of a function among the concurrent callers that ask
// for the same key: the first caller starts it, the others wait for its
// result. The run has its own context, detached from every caller's
// cancellation and bounded by Timeout: a caller that gives up must not
// abandon a refresh half done (WeChat may have rotated the refresh token
// already) nor cancel it for the callers still waiting.
type Group[K comparable, V any] struct {
	// Timeout bounds one shared run; zero means DefaultGroupTimeout.
	Timeout time.Duration

	mu      sync.Mutex
	flights map[K]*flight[V]
}

// DefaultGroupTimeout bounds a shared run: a lease wait, a WeChat call with
// its retries, and saving the result.
const DefaultGroupTimeout = 2 * time.Minute

type flight[V any] struct {
	joined int // callers waiting for it besides the first; for tests
	done   chan struct{}
	val    V
	err    error
}

// Do returns the result of fn for key, running it unless a run for key is
// already under way, in which case it waits for that one. fn gets a context
// that keeps ctx's values but not its cancellation. When ctx ends first, Do
// returns ctx's error and the run goes on for the others.
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func(ctx context.Context) (V, error)) (V, error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = map[K]*flight[V]{}
	}
	f, ok := g.flights[key]
	if !ok {
		f = &flight[V]{done: make(chan struct{})}
		g.flights[key] = f
		timeout := g.Timeout
		if timeout <= 0 {
			timeout = DefaultGroupTimeout
		}
		go g.run(context.WithoutCancel(ctx), timeout, key, f, fn)
	} else {
		f.joined++
	}
	g.mu.Unlock()
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

func (g *Group[K, V]) run(ctx context.Context, timeout time.Duration, key K, f *flight[V], fn func(context.Context) (V, error)) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		g.mu.Lock()
		delete(g.flights, key)
		g.mu.Unlock()
		close(f.done)
	}()
	defer func() { // a panic here would take the whole process down
		if r := recover(); r != nil {
			f.err = fmt.Errorf("lease group: the shared run panicked: %v", r)
		}
	}()
	f.val, f.err = fn(ctx)
}
