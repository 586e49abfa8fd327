package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/webhook"
)

// receiverVerifies is the receiver's side exactly as docs/webhooks.md
// describes it, written without the package's Verify: split the header on
// ",", take t and v1, recompute HMAC-SHA256("<t>.<body>") with the secret,
// compare in constant time, and refuse a t more than 5 minutes away.
func receiverVerifies(secret, header string, body []byte, now time.Time) bool {
	var t, v1 string
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "t":
			t = v
		case "v1":
			v1 = v
		}
	}
	ts, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t + "." + string(body)))
	got, err := hex.DecodeString(v1)
	return err == nil && hmac.Equal(got, m.Sum(nil))
}

func TestSignatureVerifiesAsDocumented(t *testing.T) {
	secret := "whsec_" + strings.Repeat("ab", 32)
	body := []byte(`{"id":"evt_1","type":"authorizer.authorized","data":{"appid":"wx1"}}`)
	at := time.Unix(1_780_000_000, 0)
	h := webhook.Sign(secret, at, body)
	if !strings.HasPrefix(h, "t=1780000000,v1=") || len(h) != len("t=1780000000,v1=")+64 {
		t.Fatalf("header %q: want t=<unix>,v1=<64 hex digits>", h)
	}
	// The same computation a receiver makes (docs/webhooks.md).
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("1780000000." + string(body)))
	if want := "t=1780000000,v1=" + hex.EncodeToString(m.Sum(nil)); h != want {
		t.Fatalf("Sign = %q, want %q", h, want)
	}

	cases := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		ok     bool
		err    error
	}{
		{"fresh", secret, h, body, at.Add(time.Minute), true, nil},
		{"clock behind", secret, h, body, at.Add(-time.Minute), true, nil},
		{"replayed after 5 minutes", secret, h, body, at.Add(5*time.Minute + time.Second), false, webhook.ErrStale},
		{"body changed", secret, h, append([]byte{}, append(body[:len(body)-1], ' ', '}')...), at, false, webhook.ErrBadSignature},
		{"other secret", "whsec_other", h, body, at, false, webhook.ErrBadSignature},
		{"timestamp changed", secret, strings.Replace(h, "t=1780000000", "t=1780000001", 1), body, at, false, webhook.ErrBadSignature},
		{"no header", secret, "", body, at, false, webhook.ErrNoSignature},
		{"no v1", secret, "t=1780000000", body, at, false, webhook.ErrNoSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := receiverVerifies(c.secret, c.header, c.body, c.now); got != c.ok {
				t.Errorf("documented receiver: %v, want %v", got, c.ok)
			}
			err := webhook.Verify(c.secret, c.header, c.body, c.now, 0)
			if (err == nil) != c.ok || (c.err != nil && !errors.Is(err, c.err)) {
				t.Errorf("Verify: %v, want ok=%v err=%v", err, c.ok, c.err)
			}
		})
	}
}

// While a secret changes, a sender may sign with both: any match passes.
func TestVerifyAcceptsAnyV1(t *testing.T) {
	body := []byte(`{}`)
	at := time.Unix(1_780_000_000, 0)
	old := webhook.Sign("old", at, body)
	both := old + ",v1=" + strings.Split(webhook.Sign("new", at, body), "v1=")[1]
	if err := webhook.Verify("new", both, body, at, 0); err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify("old", both, body, at, 0); err != nil {
		t.Fatal(err)
	}
}

func TestEventIDIsStable(t *testing.T) {
	a := webhook.EventID(webhook.MessageReceived, "wxcomp", "wxapp", "key1")
	if a != webhook.EventID(webhook.MessageReceived, "wxcomp", "wxapp", "key1") || !strings.HasPrefix(a, "evt_") {
		t.Fatalf("EventID not stable: %s", a)
	}
	if a == webhook.EventID(webhook.MessageReceived, "wxcomp", "wxapp", "key2") ||
		a == webhook.EventID(webhook.MessageReceived, "wxcompwxapp", "", "key1") {
		t.Fatal("EventID collides for different parts")
	}
}

func TestCheckURL(t *testing.T) {
	allow := &webhook.Service{}
	refuse := &webhook.Service{RefusePrivate: true}
	cases := []struct {
		url           string
		allow, refuse bool
	}{
		{"https://hooks.example.com/wxfleet?token=abc", true, true},
		{"http://127.0.0.1:8090/hook", true, false},
		{"http://localhost/hook", true, false},
		{"http://10.1.2.3/hook", true, false},
		{"http://[::1]:9000/", true, false},
		{"http://169.254.169.254/latest/meta-data", true, false},
		{"http://[::ffff:192.168.1.1]/", true, false},
		{"https://93.184.216.34/hook", true, true},
		{"ftp://example.com/hook", false, false},
		{"https://user:pass@example.com/hook", false, false},
		{"https://user@example.com/hook", false, false},
		{"https:///nohost", false, false},
		{"example.com/hook", false, false},
		{"https://example.com/hook#frag", false, false},
		{"", false, false},
	}
	for _, c := range cases {
		if _, err := allow.CheckURL(c.url); (err == nil) != c.allow {
			t.Errorf("CheckURL(%q) allowing private: %v, want ok=%v", c.url, err, c.allow)
		}
		if _, err := refuse.CheckURL(c.url); (err == nil) != c.refuse {
			t.Errorf("CheckURL(%q) refusing private: %v, want ok=%v", c.url, err, c.refuse)
		}
	}
}
