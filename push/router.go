package push

import (
	"context"
	"fmt"
	"sync"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/wxcrypt"
)

// AuthorizerPlatforms returns the component appids of the platforms an
// authorizer authorized (store.Store.AuthorizerPlatforms).
type AuthorizerPlatforms func(ctx context.Context, appID string) ([]string, error)

// NewRouter returns the Router of the configured platforms, the first being
// the default; lookup tells the platforms of an authorizer. It refuses a
// platform without appid or secret, with keys wxcrypt cannot use, or
// configured twice.
func NewRouter(platforms []wxfleet.Platform, lookup AuthorizerPlatforms) (Router, error) {
	r := &router{crypters: map[string]*wxcrypt.Crypter{}, lookup: lookup, cache: map[string][]*wxcrypt.Crypter{}}
	for _, p := range platforms {
		if p.AppID == "" || p.Secret == "" {
			return nil, fmt.Errorf("platform %q: component appid and secret are required", p.AppID)
		}
		c, err := wxcrypt.New(p.Token.Reveal(), p.AESKey.Reveal(), p.AppID)
		if err != nil {
			return nil, fmt.Errorf("platform %s: %w", p.AppID, err)
		}
		if _, dup := r.crypters[p.AppID]; dup {
			return nil, fmt.Errorf("platform %s is configured twice", p.AppID)
		}
		r.crypters[p.AppID] = c
		r.order = append(r.order, p.AppID)
		r.allList = append(r.allList, c)
	}
	return r, nil
}

// router finds a push's platform. Crypters are built once per platform; the
// appid → platforms mapping is cached because the message URL is the hot path.
type router struct {
	crypters map[string]*wxcrypt.Crypter // by component appid
	order    []string                    // component appids, default first
	allList  []*wxcrypt.Crypter          // in order; shared, never modified
	lookup   AuthorizerPlatforms

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
