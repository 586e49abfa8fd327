package web

import (
	"encoding/json"
	"log/slog"
	"net/http"

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
}

// errorBody is what API clients get: a stable code and a sentence to act on.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
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
	var body errorBody
	body.Error.Code = code
	body.Error.Message = wxfleet.ErrorMessage(err)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
