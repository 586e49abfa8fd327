package web

import (
	"net/http"
	"time"

	"github.com/wxfleet/wxfleet/token"
)

// platformTokensJSON is one platform's line of GET /api/v1/tokens/health.
type platformTokensJSON struct {
	ComponentAppID string `json:"component_appid"`
	Fresh          int    `json:"fresh"`   // expire in Margin or later
	Due            int    `json:"due"`     // expire within Margin: the refresher's work
	Expired        int    `json:"expired"` // the fleet's real trouble
	Failing        int    `json:"failing"` // latest refreshes failed (any token state)
	// PausedUntil is set while api_authorizer_token is paused for the
	// platform after quota or outage errors.
	PausedUntil  *time.Time `json:"paused_until,omitempty"`
	PausedSince  *time.Time `json:"paused_since,omitempty"`
	PauseErrcode int        `json:"pause_errcode,omitempty"`
	PauseReason  string     `json:"pause_reason,omitempty"`
}

// tokenHealth: GET /api/v1/tokens/health, the fleet's authorizer tokens by
// state, per platform: two COUNT queries over indexes, cheap at 100k.
func (s *Server) tokenHealth(w http.ResponseWriter, r *http.Request) error {
	now := s.Now()
	hs, err := s.Store.TokenHealth(r.Context(), now, token.Margin)
	if err != nil {
		return err
	}
	pauses, err := s.Store.APIPauses(r.Context(), token.APIAuthorizerToken)
	if err != nil {
		return err
	}
	items := make([]platformTokensJSON, 0, len(hs))
	for _, h := range hs {
		item := platformTokensJSON{ComponentAppID: h.ComponentAppID, Fresh: h.Fresh, Due: h.Due, Expired: h.Expired, Failing: h.Failing}
		for _, p := range pauses {
			if p.ComponentAppID == h.ComponentAppID {
				item.PausedUntil, item.PausedSince = timePtr(p.Until), timePtr(p.Since)
				item.PauseErrcode, item.PauseReason = p.Errcode, p.Reason
			}
		}
		items = append(items, item)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"platforms":      items,
		"margin_seconds": int(token.Margin / time.Second),
		"at":             now.UTC(),
	})
	return nil
}
