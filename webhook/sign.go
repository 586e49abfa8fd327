package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of every delivery.
const (
	HeaderSignature = "X-Wxfleet-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">
	HeaderDelivery  = "X-Wxfleet-Delivery"  // the delivery id: the same on every attempt
	HeaderEvent     = "X-Wxfleet-Event"     // the event type
)

// Tolerance is how old a signature's timestamp a receiver should accept
// (and how far in the future): older deliveries are replays.
const Tolerance = 5 * time.Minute

// Sign returns the X-Wxfleet-Signature value for body sent at t: the
// timestamp and the hex HMAC-SHA256, keyed with the endpoint's secret, of
// the timestamp, a dot and the body.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("webhook: no valid t= and v1= in the signature header")
	ErrBadSignature = errors.New("webhook: the signature does not match the body")
	ErrStale        = errors.New("webhook: the signature's timestamp is outside the tolerance (a replay?)")
)

// Verify checks a delivery as a receiver should: header is its
// X-Wxfleet-Signature, body the raw request body, now the receiver's clock,
// tolerance how far the timestamp may be from now (0 → Tolerance). Any v1
// entry that matches passes (several may be sent while a secret changes).
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = Tolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		ok = ok || hmac.Equal(s, want)
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
