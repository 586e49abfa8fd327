package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newVault(t *testing.T) *Vault {
	t.Helper()
	v, err := New(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRoundTrip(t *testing.T) {
	v := newVault(t)
	for _, plain := range [][]byte{nil, {}, []byte("x"), []byte("refresh@@@token-值"), bytes.Repeat([]byte{0, 1, 2, 255}, 1000)} {
		sealed := v.Seal(plain)
		if !strings.HasPrefix(sealed, "v2:"+v.KeyID()+":") || !IsSealed(sealed) || SealedKeyID(sealed) != v.KeyID() {
			t.Fatalf("sealed value %q lacks the v2:<key id>: prefix", sealed)
		}
		if len(plain) >= 8 && strings.Contains(sealed, string(plain)) {
			t.Fatalf("sealed value contains the plaintext")
		}
		got, err := v.Open(sealed)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, want %q", got, plain)
		}
	}
	s := v.SealString("secret-值")
	got, err := v.OpenString(s)
	if err != nil || got != "secret-值" {
		t.Fatalf("OpenString = %q, %v", got, err)
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	v := newVault(t)
	a, b := v.SealString("same"), v.SealString("same")
	if a == b {
		t.Fatal("two seals of the same plaintext are identical: nonce reused")
	}
}

func TestTamperDetected(t *testing.T) {
	v := newVault(t)
	sealed := v.SealString("authorizer_refresh_token")
	head := "v2:" + v.KeyID() + ":"
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, head))
	if err != nil {
		t.Fatal(err)
	}
	// Flip one bit in every position in turn: nonce, ciphertext and tag.
	for i := range raw {
		mod := bytes.Clone(raw)
		mod[i] ^= 0x01
		_, err := v.Open(head + base64.StdEncoding.EncodeToString(mod))
		if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("bit flip at byte %d: err = %v, want ErrDecrypt", i, err)
		}
	}
	// Truncation.
	if _, err := v.Open(head + base64.StdEncoding.EncodeToString(raw[:len(raw)-1])); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("truncated: err = %v, want ErrDecrypt", err)
	}
}

func TestMalformed(t *testing.T) {
	v := newVault(t)
	for _, s := range []string{"", "plain", "v2:AAAA", "v1:not base64!", "v1:" + base64.StdEncoding.EncodeToString(make([]byte, 27))} {
		if _, err := v.Open(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Open(%q) err = %v, want ErrMalformed", s, err)
		}
	}
}

func TestWrongKey(t *testing.T) {
	a, b := newVault(t), newVault(t)
	const plain = "component_appsecret-0123456789"
	sealed := a.SealString(plain)
	_, err := b.Open(sealed)
	if !errors.Is(err, ErrDecrypt) {
		t.Fatalf("err = %v, want ErrDecrypt", err)
	}
	if strings.Contains(err.Error(), plain) || strings.Contains(err.Error(), sealed) {
		t.Fatalf("error %q leaks the value", err)
	}
	if !strings.Contains(err.Error(), "wrong key") {
		t.Fatalf("error %q does not say what went wrong", err)
	}
}

func TestNewRejectsBadKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New accepted a %d-byte key", n)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := GenerateKey()
	for _, s := range []string{
		EncodeKey(key),
		"  " + EncodeKey(key) + "\n",
		base64.RawStdEncoding.EncodeToString(key),
	} {
		got, err := ParseKey(s)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("ParseKey(%q) = %x, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "!!!!", base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		_, err := ParseKey(s)
		if err == nil {
			t.Fatalf("ParseKey(%q) accepted", s)
		}
		if s != "" && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q repeats the input", err)
		}
	}
}

func TestLoadKeyCreates0600(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets", "nested")
	path := filepath.Join(dir, "vault.key")
	key, err := LoadKey(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != KeySize {
		t.Fatalf("key is %d bytes", len(key))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Fatalf("key dir mode %04o, want 0700", perm)
	}
	// Loading again returns the same key, and does not rewrite it.
	again, err := LoadKey(path, true)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("second LoadKey = %x, %v; want the first key", again, err)
	}
	// The file holds the documented text form.
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != EncodeKey(key) {
		t.Fatalf("key file content is not base64 of the key")
	}
}

func TestLoadKeyMissingWithoutCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.key")
	_, err := LoadKey(path, false)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
	if _, statErr := os.Stat(path); statErr == nil {
		t.Fatal("LoadKey(create=false) created the file")
	}
}

func TestLoadKeyRefusesOpenPerms(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		path := filepath.Join(t.TempDir(), "vault.key")
		if err := os.WriteFile(path, []byte(EncodeKey(GenerateKey())), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey(path, true)
		if err == nil {
			t.Fatalf("mode %04o accepted", mode)
		}
		if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("error %q should name the path and the chmod fix", err)
		}
	}
}

func TestLoadKeyRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.key")
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadKey(path, true)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming the path", err)
	}
}

func TestKeyFileVaultRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vault.key")
	k1, err := LoadKey(path, true)
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := New(k1)
	sealed := v1.SealString("survives a restart")
	k2, err := LoadKey(path, false)
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := New(k2)
	if got, err := v2.OpenString(sealed); err != nil || got != "survives a restart" {
		t.Fatalf("reopen with reloaded key = %q, %v", got, err)
	}
}

// The fingerprint tells keys apart, is stable for one key, and does not
// contain the key in any obvious encoding.
func TestFingerprint(t *testing.T) {
	k1, k2 := GenerateKey(), GenerateKey()
	v1, _ := New(k1)
	v1b, _ := New(append([]byte(nil), k1...))
	v2, _ := New(k2)
	if v1.Fingerprint() != v1b.Fingerprint() {
		t.Fatal("one key, two fingerprints")
	}
	if v1.Fingerprint() == v2.Fingerprint() {
		t.Fatal("two keys, one fingerprint")
	}
	if len(v1.Fingerprint()) != 64 {
		t.Fatalf("fingerprint %q: want 64 hex digits", v1.Fingerprint())
	}
	for _, enc := range []string{EncodeKey(k1), hex.EncodeToString(k1)} {
		if strings.Contains(v1.Fingerprint(), enc) {
			t.Fatal("the fingerprint contains the key")
		}
	}
}

// sealV1 writes the first format (no key id, no binding), as earlier
// versions did.
func sealV1(v *Vault, plain string) string {
	a := v.seal.Load().aead
	buf := make([]byte, nonceSize, nonceSize+len(plain)+a.Overhead())
	rand.Read(buf)
	buf = a.Seal(buf, buf[:nonceSize], []byte(plain), nil)
	return "v1:" + base64.StdEncoding.EncodeToString(buf)
}

// A value bound to one place opens only there: copied to another row (or
// column), or opened unbound, it fails; the key id names the key.
func TestBoundValuesOpenOnlyWhereSealed(t *testing.T) {
	v := newVault(t)
	here := "authorizers.refresh_token_sealed\x00wxcomp\x00wxapp1"
	sealed := v.SealFor([]byte("refresh@@@1"), here)
	if got, err := v.OpenFor(sealed, here); err != nil || string(got) != "refresh@@@1" {
		t.Fatalf("OpenFor where sealed: %q, %v", got, err)
	}
	for _, elsewhere := range []string{"authorizers.refresh_token_sealed\x00wxcomp\x00wxapp2", "authorizers.access_token_sealed\x00wxcomp\x00wxapp1", ""} {
		if _, err := v.OpenFor(sealed, elsewhere); !errors.Is(err, ErrDecrypt) {
			t.Errorf("opened at %q: %v", elsewhere, err)
		}
	}
	other := newVault(t)
	if _, err := other.OpenFor(sealed, here); !errors.Is(err, ErrDecrypt) || other.Owns(sealed) || !v.Owns(sealed) {
		t.Errorf("another key: %v, owns %v", err, other.Owns(sealed))
	}
	// The first format still opens, anywhere: the store re-seals it bound.
	old := sealV1(v, "legacy")
	if got, err := v.OpenFor(old, here); err != nil || string(got) != "legacy" || !Legacy(old) || !v.Owns(old) || SealedKeyID(old) != "" {
		t.Fatalf("v1 value: %q, %v", got, err)
	}
}

// A ring opens what any of its keys sealed, seals with the key UseKey names,
// and a vault of one of the keys opens only that key's values.
func TestRingOpensEitherKeySealsWithOne(t *testing.T) {
	k1, k2 := GenerateKey(), GenerateKey()
	old, _ := New(k1)
	ring, err := NewRing(k2, k1)
	if err != nil {
		t.Fatal(err)
	}
	at := "authorizers.refresh_token_sealed\x00wxcomp\x00wxapp"
	byOld := old.SealFor([]byte("old-secret"), at)
	legacy := sealV1(old, "legacy")
	if got, err := ring.OpenFor(byOld, at); err != nil || string(got) != "old-secret" {
		t.Fatalf("ring opens the old key's value: %q, %v", got, err)
	}
	if got, err := ring.Open(legacy); err != nil || string(got) != "legacy" {
		t.Fatalf("ring opens a v1 value of its second key: %q, %v", got, err)
	}
	if ring.Fingerprint() == old.Fingerprint() {
		t.Fatal("the ring seals with its second key before UseKey")
	}
	byNew := ring.SealFor([]byte("new-secret"), at)
	if !SealedWith(byNew, ring.Fingerprint()) || SealedWith(byNew, old.Fingerprint()) {
		t.Fatalf("sealed with %s, want the first key", SealedKeyID(byNew))
	}
	if _, err := old.OpenFor(byNew, at); err != ErrDecrypt {
		t.Fatalf("the old key alone opened the new key's value: %v", err)
	}
	if !ring.UseKey(old.Fingerprint()) || ring.Fingerprint() != old.Fingerprint() {
		t.Fatal("UseKey did not switch the sealing key")
	}
	if v := ring.SealFor([]byte("x"), at); !SealedWith(v, old.Fingerprint()) {
		t.Fatal("after UseKey the ring still seals with the first key")
	}
	if ring.UseKey(strings.Repeat("0", 64)) || ring.Fingerprint() != old.Fingerprint() {
		t.Fatal("UseKey of a foreign key changed the sealing key")
	}
	if !ring.Owns(byOld) || !ring.Owns(byNew) || old.Owns(byNew) {
		t.Fatal("Owns")
	}
}
