package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/wxcrypt"
)

// Floor is the least a server can do per push and still be correct: the same
// checks as the platform's receiver (parameters, timestamp skew, 1 MiB body
// limit, envelope, msg_signature, decryption, receiveid, WeChat XML) and then
// "success", with nothing stored. The platform's throughput is compared to it.
type Floor struct {
	crypter  *wxcrypt.Crypter
	now      func() time.Time
	logger   *slog.Logger
	refused  atomic.Int64
	accepted atomic.Int64
}

// NewFloor returns a floor for one platform's credentials.
func NewFloor(creds Credentials, now func() time.Time, logger *slog.Logger) (*Floor, error) {
	c, err := wxcrypt.New(creds.Token, creds.AESKey, creds.ComponentAppID)
	if err != nil {
		return nil, err
	}
	return &Floor{crypter: c, now: now, logger: logger}, nil
}

// Handler routes the message URL with the platform's own pattern.
func (f *Floor) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/wechat/apps/{appid}", f.serveApp)
	return mux
}

func (f *Floor) serveApp(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "the floor only takes POSTed pushes", http.StatusMethodNotAllowed)
		return
	}
	// The steps below follow push.Receiver.open and ServeApp, in order.
	q := req.URL.Query()
	ts, nonce, sig := q.Get("timestamp"), q.Get("nonce"), q.Get("msg_signature")
	if ts == "" || nonce == "" || sig == "" {
		f.refuse(w, http.StatusBadRequest, "params", "timestamp, nonce and msg_signature are required (encrypt_type=aes)")
		return
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		f.refuse(w, http.StatusBadRequest, "timestamp", "timestamp is not a number")
		return
	}
	if skew := f.now().Sub(time.Unix(sec, 0)); skew > push.MaxSkew || skew < -push.MaxSkew {
		f.refuse(w, http.StatusBadRequest, "timestamp", "timestamp is "+skew.Round(time.Second).String()+" off our clock (limit 5m)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, push.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			f.refuse(w, http.StatusRequestEntityTooLarge, "size", "body over 1 MiB")
			return
		}
		f.refuse(w, http.StatusBadRequest, "read", "reading the body failed")
		return
	}
	env, err := wxcrypt.ParseEnvelope(body)
	if err != nil {
		f.refuse(w, http.StatusBadRequest, "envelope", "body has no <Encrypt>")
		return
	}
	plain, err := f.crypter.Open(sig, ts, nonce, env.Encrypt)
	if err != nil {
		var we *wxcrypt.Error
		if errors.As(err, &we) {
			f.refuse(w, http.StatusForbidden, we.Step, we.Detail)
			return
		}
		f.refuse(w, http.StatusForbidden, "decrypt", "cannot open the message")
		return
	}
	if _, err := push.ParseMessage(plain); err != nil {
		f.refuse(w, http.StatusBadRequest, "xml", "decrypted body is not WeChat XML")
		return
	}
	f.accepted.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "success")
}

// refuse answers like the platform; only the first few refusals are logged,
// so that a broken run cannot flood the terminal and skew the measurement.
func (f *Floor) refuse(w http.ResponseWriter, status int, step, detail string) {
	if f.refused.Add(1) <= 5 {
		f.logger.Warn("floor: push refused", "step", step, "detail", detail, "status", status)
	}
	http.Error(w, "push refused: "+step+": "+detail, status)
}

// FloorServer is a floor listening on an address.
type FloorServer struct {
	Floor *Floor
	http  *http.Server
	ln    net.Listener
}

// StartFloor listens on addr and serves the floor until Close. The serving
// goroutines inherit the caller's profiler labels.
func StartFloor(addr string, creds Credentials, logger *slog.Logger) (*FloorServer, error) {
	f, err := NewFloor(creds, time.Now, logger)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	// The platform's server settings, so that only the handler differs.
	s := &FloorServer{Floor: f, ln: ln, http: &http.Server{
		Handler: f.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("floor: serving stopped", "err", err)
		}
	}()
	return s, nil
}

// URL is the floor's base URL.
func (s *FloorServer) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the floor.
func (s *FloorServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.http.Shutdown(ctx)
}
