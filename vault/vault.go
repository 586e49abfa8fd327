// Package vault encrypts secrets at rest: refresh tokens, access tokens, app
// secrets and push keys are sealed with AES-256-GCM before they reach the
// database, and opened only when they must be sent to WeChat.
//
// A sealed value is text: "v2:", the key's id (KeyID), ":", then
// base64(nonce | ciphertext | tag), with a fresh random 12-byte nonce per
// value, so the same plaintext never seals to the same text twice. SealFor
// binds a value to where it rests (AES-GCM associated data: table, column,
// row key), so a value copied into another row does not open; the key id
// lets key rotation find what was sealed with which key. Format "v1:" (no
// key id, no binding) is still opened: it is what earlier versions wrote.
//
// The key is 32 random bytes kept outside the database: in a key file written
// by LoadKey (mode 0600) or given base64-encoded through the environment and
// read with ParseKey. Losing the key loses every refresh token, which means
// every merchant has to authorize again: back it up apart from the database.
package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
)

// KeySize is the size of a vault key: AES-256.
const KeySize = 32

// prefix marks the first format of a sealed value (read only); prefixV2 the
// current one.
const (
	prefix   = "v1:"
	prefixV2 = "v2:"
)

// keyIDLen is how many hex digits of the fingerprint name a key in a sealed
// value: 64 bits, enough to tell a handful of keys apart.
const keyIDLen = 16

const nonceSize = 12 // GCM's standard nonce

// Errors returned by Open. Neither ever carries the key or the plaintext.
var (
	// ErrMalformed means the text is not a value this vault sealed: wrong
	// prefix, bad base64, or too short to hold a nonce and a tag.
	ErrMalformed = errors.New("vault: malformed sealed value (not produced by this vault's Seal)")
	// ErrDecrypt means authentication failed: the value was sealed with another
	// key, or it was altered after sealing.
	ErrDecrypt = errors.New("vault: cannot open sealed value: wrong key, or the value was altered")
)

// Vault seals and opens values. It holds one key, or during a key rotation
// a ring of keys (NewRing): every key opens what it sealed, and one of them,
// the sealing key, seals. It is safe for concurrent use.
type Vault struct {
	keys []*ringKey
	seal atomic.Pointer[ringKey]
}

// ringKey is one key of a vault.
type ringKey struct {
	aead        cipher.AEAD
	fingerprint string
}

func (k *ringKey) id() string { return k.fingerprint[:keyIDLen] }

// New returns a vault for a 32-byte key.
func New(key []byte) (*Vault, error) { return NewRing(key) }

// NewRing returns a vault holding several keys, for a key rotation: the
// first seals (until UseKey names another), each opens what it sealed.
func NewRing(keys ...[]byte) (*Vault, error) {
	if len(keys) == 0 {
		return nil, errors.New("vault: no key given")
	}
	v := &Vault{}
	for _, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("vault: key must be %d bytes, got %d", KeySize, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		k := &ringKey{aead: aead, fingerprint: fingerprint(key)}
		if v.key(k.fingerprint) == nil {
			v.keys = append(v.keys, k)
		}
	}
	v.seal.Store(v.keys[0])
	return v, nil
}

func (v *Vault) key(fp string) *ringKey {
	for _, k := range v.keys {
		if k.fingerprint == fp {
			return k
		}
	}
	return nil
}

func (v *Vault) keyByID(id string) *ringKey {
	for _, k := range v.keys {
		if k.id() == id {
			return k
		}
	}
	return nil
}

// UseKey makes the ring's key of this fingerprint the sealing key; false
// when the vault has no such key (the sealing key stays as it was).
func (v *Vault) UseKey(fingerprint string) bool {
	k := v.key(fingerprint)
	if k == nil {
		return false
	}
	v.seal.Store(k)
	return true
}

// Has tells whether the vault holds the key of this fingerprint.
func (v *Vault) Has(fingerprint string) bool { return v.key(fingerprint) != nil }

// Fingerprints are the fingerprints of every key of the vault, the first
// given first.
func (v *Vault) Fingerprints() []string {
	out := make([]string, len(v.keys))
	for i, k := range v.keys {
		out[i] = k.fingerprint
	}
	return out
}

// fingerprintLabel is what a key's fingerprint authenticates. Changing it
// would make every stored fingerprint mismatch: it is part of the format.
const fingerprintLabel = "wxfleet vault key fingerprint v1"

func fingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(fingerprintLabel))
	return hex.EncodeToString(m.Sum(nil))
}

// Fingerprint names the sealing key without revealing it: the hex
// HMAC-SHA256 of a fixed label under the key. The database keeps it, so that
// an instance started with another key is refused before it seals anything
// with it.
func (v *Vault) Fingerprint() string { return v.seal.Load().fingerprint }

// KeyID names the sealing key inside sealed values: the first 16 hex digits
// of its fingerprint.
func (v *Vault) KeyID() string { return v.seal.Load().id() }

// Seal encrypts plain, bound to nothing (SealFor with no associated data).
func (v *Vault) Seal(plain []byte) string { return v.SealFor(plain, "") }

// SealFor encrypts plain with the sealing key, bound to aad (where the value
// rests, e.g. "authorizers.refresh_token_sealed\x00wxcomp\x00wxapp"), and
// returns "v2:" + key id + ":" + base64(nonce|ciphertext). Every call uses a
// new random nonce. Only OpenFor with the same aad opens it.
func (v *Vault) SealFor(plain []byte, aad string) string {
	return v.seal.Load().sealFor(plain, aad)
}

// SealForWith is SealFor with the key of this fingerprint instead of the
// sealing key (what a key rotation re-seals with).
func (v *Vault) SealForWith(fingerprint string, plain []byte, aad string) (string, error) {
	k := v.key(fingerprint)
	if k == nil {
		return "", errors.New("vault: no key of that fingerprint in this vault")
	}
	return k.sealFor(plain, aad), nil
}

func (k *ringKey) sealFor(plain []byte, aad string) string {
	// One buffer: nonce, then ciphertext and tag appended in place.
	buf := make([]byte, nonceSize, nonceSize+len(plain)+k.aead.Overhead())
	// crypto/rand.Read never returns an error (it crashes the program if the
	// system's randomness is unavailable), so there is nothing to handle.
	rand.Read(buf)
	buf = k.aead.Seal(buf, buf[:nonceSize], plain, []byte(aad))
	head := prefixV2 + k.id() + ":"
	out := make([]byte, len(head)+base64.StdEncoding.EncodedLen(len(buf)))
	copy(out, head)
	base64.StdEncoding.Encode(out[len(head):], buf)
	return string(out)
}

// Open decrypts a value sealed by Seal (or an unbound "v1:" value). It
// returns ErrMalformed for text that is not a sealed value and ErrDecrypt
// for a wrong key, tampering, or a value bound by SealFor.
func (v *Vault) Open(sealed string) ([]byte, error) { return v.OpenFor(sealed, "") }

// OpenFor decrypts a value sealed by SealFor with the same aad, with
// whichever key of the vault its key id names. A "v1:" value, written
// before values were bound, opens whatever aad says, with any key of the
// vault that opens it: the store re-seals those bound when it migrates (see
// Legacy).
func (v *Vault) OpenFor(sealed, aad string) ([]byte, error) {
	var raw []byte
	var err error
	candidates := v.keys
	if rest, ok := strings.CutPrefix(sealed, prefix); ok {
		raw, err = base64.StdEncoding.DecodeString(rest)
		aad = ""
	} else if rest, ok := strings.CutPrefix(sealed, prefixV2); ok {
		kid, body, found := strings.Cut(rest, ":")
		if !found || len(kid) != keyIDLen {
			return nil, ErrMalformed
		}
		k := v.keyByID(kid)
		if k == nil {
			return nil, ErrDecrypt
		}
		candidates = []*ringKey{k}
		raw, err = base64.StdEncoding.DecodeString(body)
	} else {
		return nil, ErrMalformed
	}
	if err != nil || len(raw) < nonceSize+candidates[0].aead.Overhead() {
		return nil, ErrMalformed
	}
	for _, k := range candidates {
		plain, err := k.aead.Open(nil, raw[:nonceSize], raw[nonceSize:], []byte(aad))
		if err == nil {
			return plain, nil
		}
	}
	return nil, ErrDecrypt
}

// Legacy tells whether sealed is in the first format (no key id, bound to
// nothing): the store re-seals such values.
func Legacy(sealed string) bool { return strings.HasPrefix(sealed, prefix) }

// SealedKeyID returns the id of the key a "v2:" value was sealed with ("" for
// other text): what key rotation looks for.
func SealedKeyID(sealed string) string {
	rest, ok := strings.CutPrefix(sealed, prefixV2)
	if !ok {
		return ""
	}
	kid, _, _ := strings.Cut(rest, ":")
	return kid
}

// Owns tells whether sealed was sealed with one of this vault's keys,
// without opening it (a bound value needs its aad to open): by its key id,
// or for a "v1:" value by opening it.
func (v *Vault) Owns(sealed string) bool {
	if Legacy(sealed) {
		_, err := v.Open(sealed)
		return err == nil
	}
	return v.keyByID(SealedKeyID(sealed)) != nil
}

// SealedWith tells whether sealed is a "v2:" value of the key of this
// fingerprint (by its key id; nothing is opened).
func SealedWith(sealed, fingerprint string) bool {
	return len(fingerprint) >= keyIDLen && SealedKeyID(sealed) == fingerprint[:keyIDLen]
}

// KeyIDOf is the id sealed values carry for the key of this fingerprint.
func KeyIDOf(fingerprint string) string {
	if len(fingerprint) < keyIDLen {
		return fingerprint
	}
	return fingerprint[:keyIDLen]
}

// SealString seals a string.
func (v *Vault) SealString(plain string) string { return v.Seal([]byte(plain)) }

// OpenString opens a value sealed by SealString (or Seal).
func (v *Vault) OpenString(sealed string) (string, error) {
	b, err := v.Open(sealed)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// IsSealed tells whether s looks like a sealed value (by its prefix only; it
// does not authenticate it).
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) || strings.HasPrefix(s, prefixV2) }

// GenerateKey returns a new random key.
func GenerateKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key)
	return key
}

// EncodeKey returns the text form of a key, as LoadKey writes it and ParseKey
// reads it: standard base64.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// ParseKey decodes a key given as text (standard or unpadded base64, as from an
// environment variable). The error never repeats the input.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("vault: key is empty")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("vault: key is not base64 (expected %d random bytes in standard base64, e.g. from `openssl rand -base64 %d`)", KeySize, KeySize)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("vault: key must decode to %d bytes, got %d", KeySize, len(key))
	}
	return key, nil
}

// LoadKey reads the key file at path (base64 text of 32 bytes). When the file
// does not exist and create is true, it makes a new random key and writes it
// with mode 0600, creating missing parent directories with mode 0700.
//
// A key file that group or others may access is refused: the error names the
// path and the chmod that fixes it.
func LoadKey(path string, create bool) ([]byte, error) {
	if path == "" {
		return nil, errors.New("vault: no key file path given")
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		key, created, err := createKeyFile(path)
		if err != nil {
			return nil, err
		}
		if created {
			return key, nil
		}
		// Another process created it first: read theirs.
		if fi, err = os.Stat(path); err != nil {
			return nil, fmt.Errorf("vault: key file: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("vault: key file %s does not exist (create it with `head -c %d /dev/urandom | base64 > %s && chmod 600 %s`, or let wxfleet create it)", path, KeySize, path, path)
	case err != nil:
		return nil, fmt.Errorf("vault: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("vault: key file %s is not a regular file", path)
	}
	// Windows has no POSIX mode bits worth checking.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("vault: key file %s is accessible by group or others (mode %04o); restrict it with: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault: key file: %w", err)
	}
	key, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile writes a new key to path unless the file appeared meanwhile
// (created false, no error).
func createKeyFile(path string) (key []byte, created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("vault: create key directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("vault: create key file: %w", err)
	}
	key = GenerateKey()
	_, err = f.WriteString(EncodeKey(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // never leave a half-written key behind to be read next time
		return nil, false, fmt.Errorf("vault: write key file %s: %w", path, err)
	}
	return key, true, nil
}
