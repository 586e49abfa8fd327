// Package vault encrypts secrets at rest: refresh tokens, access tokens, app
// secrets and push keys are sealed with AES-256-GCM before they reach the
// database, and opened only when they must be sent to WeChat.
//
// A sealed value is text: "v1:" followed by base64(nonce | ciphertext | tag),
// with a fresh random 12-byte nonce per value, so the same plaintext never
// seals to the same text twice. The version prefix leaves room for a later
// format (for example key rotation with a key id) without guessing.
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
)

// KeySize is the size of a vault key: AES-256.
const KeySize = 32

// prefix marks the format of a sealed value.
const prefix = "v1:"

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

// Vault seals and opens values with one key. It is safe for concurrent use.
type Vault struct {
	aead        cipher.AEAD
	fingerprint string
}

// New returns a vault for a 32-byte key.
func New(key []byte) (*Vault, error) {
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
	return &Vault{aead: aead, fingerprint: fingerprint(key)}, nil
}

// fingerprintLabel is what a key's fingerprint authenticates. Changing it
// would make every stored fingerprint mismatch: it is part of the format.
const fingerprintLabel = "wxfleet vault key fingerprint v1"

func fingerprint(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(fingerprintLabel))
	return hex.EncodeToString(m.Sum(nil))
}

// Fingerprint names the key without revealing it: the hex HMAC-SHA256 of a
// fixed label under the key. The database keeps it, so that an instance
// started with another key is refused before it seals anything with it.
func (v *Vault) Fingerprint() string { return v.fingerprint }

// Seal encrypts plain and returns "v1:" + base64(nonce|ciphertext). Every call
// uses a new random nonce.
func (v *Vault) Seal(plain []byte) string {
	// One buffer: nonce, then ciphertext and tag appended in place.
	buf := make([]byte, nonceSize, nonceSize+len(plain)+v.aead.Overhead())
	// crypto/rand.Read never returns an error (it crashes the program if the
	// system's randomness is unavailable), so there is nothing to handle.
	rand.Read(buf)
	buf = v.aead.Seal(buf, buf[:nonceSize], plain, nil)
	out := make([]byte, len(prefix)+base64.StdEncoding.EncodedLen(len(buf)))
	copy(out, prefix)
	base64.StdEncoding.Encode(out[len(prefix):], buf)
	return string(out)
}

// Open decrypts a value produced by Seal. It returns ErrMalformed for text
// that is not a sealed value and ErrDecrypt for a wrong key or tampering.
func (v *Vault) Open(sealed string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return nil, ErrMalformed
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(raw) < nonceSize+v.aead.Overhead() {
		return nil, ErrMalformed
	}
	plain, err := v.aead.Open(raw[nonceSize:nonceSize], raw[:nonceSize], raw[nonceSize:], nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
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
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

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
