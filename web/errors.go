package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"

	"github.com/wxfleet/wxfleet"
)

// statusOf maps the domain's error codes to HTTP statuses: the one table.
var statusOf = map[string]int{
	wxfleet.EINVALID:      http.StatusBadRequest,
	wxfleet.EUNAUTHORIZED: http.StatusUnauthorized,
	wxfleet.EFORBIDDEN:    http.StatusForbidden,
	wxfleet.ENOTFOUND:     http.StatusNotFound,
	wxfleet.ECONFLICT:     http.StatusConflict,
	wxfleet.EUNAVAILABLE:  http.StatusServiceUnavailable,
	wxfleet.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	wxfleet.ETOOMANY:      http.StatusTooManyRequests,
	wxfleet.EINTERNAL:     http.StatusInternalServerError,
	// The runtime API's answer to a mini program whose tenant's subscription
	// ran out (issue 10): 402 Payment Required, code "subscription_expired".
	wxfleet.ESUBSCRIPTIONEXPIRED: http.StatusPaymentRequired,
}

// ErrorBody is the one shape of every error the API answers: a stable code,
// a sentence to act on (Chinese first; MessageEN its English where the
// sentence has one) and the request's id, which its log lines carry too.
type ErrorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en,omitempty"`
	RequestID string `json:"request_id"`
}

// NewErrorBody splits a bilingual "中文 / English" message into its halves.
func NewErrorBody(code, message, requestID string) ErrorBody {
	b := ErrorBody{Code: code, Message: message, RequestID: requestID}
	if zh, en, ok := strings.Cut(message, " / "); ok && !isASCII(zh) && isASCII(en[:min(len(en), 8)]) {
		b.Message, b.MessageEN = strings.TrimSpace(zh), strings.TrimSpace(en)
	}
	return b
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// apiError writes err as JSON; internal details go to the log only.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	code := wxfleet.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	s.Logger.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	writeJSON(w, status, NewErrorBody(code, wxfleet.ErrorMessage(err), RequestIDFrom(r.Context())))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
