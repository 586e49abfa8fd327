package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

type requestIDKey struct{}

// RequestIDHeader names the request id every response carries.
const RequestIDHeader = "X-Request-Id"

// RequestID gives every request an id: the caller's own X-Request-Id when it
// is a short token (a proxy's or a client's, so one id follows a request
// across systems), else a new random one. The id is set on the response, kept
// in the request's context for error bodies and log lines (ContextLogHandler
// adds it to every record logged with that context), and logged with the
// request's method, path (never its query: an authorization callback carries
// its auth_code there), status and duration.
func RequestID(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r.WithContext(ctx))
		logger.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	})
}

// RequestIDFrom is the id RequestID gave the request of ctx ("" outside one).
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status a handler wrote. It passes Flush
// through (the live rollout page streams server-sent events) and Unwrap for
// http.ResponseController.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ContextLogHandler adds the request id of a record's context to the record:
// a handler's s.Logger.InfoContext(r.Context(), ...) names its request.
type ContextLogHandler struct{ slog.Handler }

func (h ContextLogHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" {
		rec.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h ContextLogHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return ContextLogHandler{h.Handler.WithAttrs(a)}
}

func (h ContextLogHandler) WithGroup(name string) slog.Handler {
	return ContextLogHandler{h.Handler.WithGroup(name)}
}
