package token

import (
	"context"
	"time"

	"github.com/wxfleet/wxfleet/metrics"
	"github.com/wxfleet/wxfleet/store"
)

// HealthStore counts the fleet's tokens.
type HealthStore interface {
	TokenHealth(ctx context.Context, now time.Time, margin time.Duration) ([]store.TokenHealth, error)
}

// HealthSource reads the token health for metrics, with Margin as the line
// between fresh and due.
func HealthSource(st HealthStore, now func() time.Time) func(ctx context.Context) ([]metrics.TokenStates, error) {
	return func(ctx context.Context) ([]metrics.TokenStates, error) {
		hs, err := st.TokenHealth(ctx, now(), Margin)
		if err != nil {
			return nil, err
		}
		out := make([]metrics.TokenStates, len(hs))
		for i, h := range hs {
			out[i] = metrics.TokenStates{ComponentAppID: h.ComponentAppID, Fresh: h.Fresh, Due: h.Due, Expired: h.Expired, Failing: h.Failing}
		}
		return out, nil
	}
}
