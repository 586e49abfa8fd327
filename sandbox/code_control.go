package sandbox

import (
	"errors"
	"net/http"
)

// codeLimitsRequest is the body of POST /sandbox/api/code-limits: each
// field given replaces that limit.
type codeLimitsRequest struct {
	AuditQuota    *int `json:"audit_quota"`
	SpeedupQuota  *int `json:"speedup_quota"`
	TemplateLimit *int `json:"template_limit"`
	PackageKB     *int `json:"package_limit_kb"`
}

// GET /sandbox/api/code-limits
func (s *Sandbox) handleGetCodeLimits(w http.ResponseWriter, r *http.Request) {
	s.code.mu.Lock()
	l := s.code.meta.Limits
	s.code.mu.Unlock()
	writeJSON(w, http.StatusOK, l)
}

// POST /sandbox/api/code-limits {"audit_quota","speedup_quota","template_limit","package_limit_kb"}
func (s *Sandbox) handleSetCodeLimits(w http.ResponseWriter, r *http.Request) {
	var req codeLimitsRequest
	if err := readControl(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	for _, v := range []*int{req.AuditQuota, req.SpeedupQuota, req.TemplateLimit, req.PackageKB} {
		if v != nil && *v < 0 {
			writeControlError(w, http.StatusBadRequest, errors.New("限额不能为负 / limits must not be negative"))
			return
		}
	}
	cs := s.code
	cs.mu.Lock()
	l := &cs.meta.Limits
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&l.AuditQuota, req.AuditQuota)
	set(&l.SpeedupQuota, req.SpeedupQuota)
	set(&l.TemplateLimit, req.TemplateLimit)
	set(&l.PackageKB, req.PackageKB)
	out := *l
	cs.touchMeta()
	code := cs.flush()
	cs.mu.Unlock()
	if code != 0 {
		writeControlError(w, http.StatusInternalServerError, errors.New("写入状态失败 / writing the state failed"))
		return
	}
	writeJSON(w, http.StatusOK, out)
}
