// Package password hashes and checks the console's passwords with argon2id
// (RFC 9106), kept as a PHC-style string that names its own parameters:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt, base64>$<key, base64>
//
// so the parameters can be raised later without invalidating stored hashes
// (Verify reads them from the string; NeedsRehash says when to re-hash at the
// next successful sign-in).
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/wxfleet/wxfleet"
)

// Params are argon2id's costs. Default is OWASP's recommended minimum for
// argon2id (19 MiB, two passes, one lane): about 30 ms a hash on one core,
// which bounds a guessing attacker without letting a burst of sign-ins
// exhaust a small server's memory.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen int
	KeyLen  uint32
}

// Default are the parameters Hash uses.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Rules a new password must satisfy.
const (
	MinLength = 12   // characters
	MaxBytes  = 1024 // bounds the work one sign-in can ask of the server
)

// Check says why plain is not acceptable as a new password, or nil.
func Check(plain, email string) error {
	if n := utf8.RuneCountInString(plain); n < MinLength {
		return wxfleet.Errorf(wxfleet.EINVALID, "密码至少 %d 个字符 / the password needs at least %d characters", MinLength, MinLength)
	}
	if len(plain) > MaxBytes {
		return wxfleet.Errorf(wxfleet.EINVALID, "密码最长 %d 字节 / the password may have at most %d bytes", MaxBytes, MaxBytes)
	}
	if !utf8.ValidString(plain) {
		return wxfleet.Errorf(wxfleet.EINVALID, "密码不是有效的 UTF-8 / the password is not valid UTF-8")
	}
	if email != "" && strings.EqualFold(strings.TrimSpace(plain), strings.TrimSpace(email)) {
		return wxfleet.Errorf(wxfleet.EINVALID, "密码不能与帐号相同 / the password must not be the account's email")
	}
	first, _ := utf8.DecodeRuneInString(plain)
	if strings.Count(plain, string(first)) == utf8.RuneCountInString(plain) {
		return wxfleet.Errorf(wxfleet.EINVALID, "密码不能是同一个字符的重复 / the password must not repeat one character")
	}
	return nil
}

// Hash returns the encoded argon2id hash of plain with a fresh salt.
func Hash(plain string) (string, error) { return Default.Hash(plain) }

// Hash returns the encoded argon2id hash of plain with p's costs.
func (p Params) Hash(plain string) (string, error) {
	if len(plain) > MaxBytes {
		return "", wxfleet.Errorf(wxfleet.EINVALID, "密码最长 %d 字节 / the password may have at most %d bytes", MaxBytes, MaxBytes)
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(plain), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var b64 = base64.RawStdEncoding

// limits on what a stored string may ask for: a corrupted or hostile row
// must not make one sign-in allocate gigabytes.
const (
	maxMemory = 1 << 20 // 1 GiB
	maxTime   = 16
)

// decode parses an encoded hash.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("password: not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("password: unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("password: bad parameters %q", parts[3])
	}
	if p.Memory < 8 || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 {
		return p, nil, nil, fmt.Errorf("password: parameters out of range %q", parts[3])
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("password: bad salt")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, fmt.Errorf("password: bad key")
	}
	p.SaltLen, p.KeyLen = len(salt), uint32(len(key))
	return p, salt, key, nil
}

// Verify reports whether plain matches encoded, comparing in constant time.
// An encoded string that is not a valid hash is an error (and no match).
func Verify(encoded, plain string) (bool, error) {
	if len(plain) > MaxBytes {
		return false, nil
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(plain), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether encoded was made with weaker costs than
// Default (or cannot be read).
func NeedsRehash(encoded string) bool {
	p, _, _, err := decode(encoded)
	return err != nil || p.Memory < Default.Memory || p.Time < Default.Time || p.KeyLen < Default.KeyLen
}

// dummy is verified against when an account does not exist, so a sign-in
// for an unknown email costs what one for a known email does and the answer
// time does not tell them apart.
var dummy, _ = Default.Hash("wxfleet: no such account")

// VerifyNothing spends a verification's time on nothing (see dummy).
func VerifyNothing(plain string) { Verify(dummy, plain) }
