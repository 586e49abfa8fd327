package web

import (
	"sync"
	"time"
)

// limiter is a per-client token bucket for the public pages that cost a
// WeChat call (every click on 授权 asks WeChat for a pre_auth_code, which
// counts against the platform's daily quota). In memory and per instance:
// it blunts a careless script, it is not a defence against a botnet.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perMinute, burst int, now func() time.Time) *limiter {
	return &limiter{rate: float64(perMinute) / 60, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// peek reports whether key has a token, without taking it.
func (l *limiter) peek(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return true
	}
	return min(l.burst, b.tokens+l.now().Sub(b.last).Seconds()*l.rate) >= 1
}

// allow takes a token for key, or says no.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.buckets) > 10_000 { // forget idle clients rather than grow without bound
		for k, b := range l.buckets {
			if now.Sub(b.last) > time.Duration(l.burst/l.rate)*time.Second {
				delete(l.buckets, k)
			}
		}
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
