package server

import (
	"context"
	"strconv"
	"sync"

	"github.com/wxfleet/wxfleet/wxcrypt"
)

// router finds a push's platform. Crypters are built once per platform; the
// appid → platforms mapping is cached because the message URL is the hot path.
type router struct {
	crypters map[string]*wxcrypt.Crypter // by component appid
	order    []string                    // component appids, default first
	allList  []*wxcrypt.Crypter          // in order; shared, never modified
	lookup   func(ctx context.Context, appID string) ([]string, error)

	mu    sync.RWMutex
	cache map[string][]*wxcrypt.Crypter
}

func (r *router) Component(componentAppID string) (*wxcrypt.Crypter, bool) {
	c, ok := r.crypters[componentAppID]
	return c, ok
}

func (r *router) ForAuthorizer(ctx context.Context, appID string) []*wxcrypt.Crypter {
	if len(r.order) == 1 || appID == "" {
		return r.all()
	}
	r.mu.RLock()
	cs, ok := r.cache[appID]
	r.mu.RUnlock()
	if ok {
		return cs
	}
	comps, err := r.lookup(ctx, appID)
	if err != nil || len(comps) == 0 {
		// Unknown yet (the 全网发布 test accounts, or a push racing the
		// authorization): try every platform; the signature picks the right one.
		return r.all()
	}
	seen := map[string]bool{}
	for _, c := range comps {
		if cr, ok := r.crypters[c]; ok {
			cs = append(cs, cr)
			seen[c] = true
		}
	}
	for _, c := range r.order {
		if !seen[c] {
			cs = append(cs, r.crypters[c])
		}
	}
	r.mu.Lock()
	if len(r.cache) > 100_000 {
		r.cache = map[string][]*wxcrypt.Crypter{}
	}
	r.cache[appID] = cs
	r.mu.Unlock()
	return cs
}

func (r *router) all() []*wxcrypt.Crypter { return r.allList }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
