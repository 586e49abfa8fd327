package sandbox

import (
	"context"
	"time"
)

// codePushWorkers bounds the audit pushes in flight.
const codePushWorkers = 8

// auditRules decide submissions (POST /sandbox/api/audit-rules).
type auditRules struct {
	Delay        string   `json:"delay"`
	RejectRate   float64  `json:"reject_rate"`
	RejectWords  []string `json:"reject_words"`
	DelayRate    float64  `json:"delay_rate"`
	LosePushRate float64  `json:"lose_push_rate"`
}

func defaultAuditRules() auditRules { return auditRules{Delay: "5s", RejectWords: []string{}} }

// simulate decides due audits as time passes.
func (cs *codeState) simulate(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (cs *codeState) pushWorker(ctx context.Context) { <-ctx.Done() }
