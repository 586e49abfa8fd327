package sandbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The state holds live credentials (tokens, refresh tokens, codes) as WeChat
// would. Every stored value is sealed with AES-GCM under a key kept beside
// it, so that a copied or grepped data directory does not show them, the same
// courtesy the platform pays its own secrets. The key file makes that a speed
// bump, not a vault: this is a test double.

// sealMagic starts a sealed sandbox.json of earlier versions.
const sealMagic = "WXFLEET-SANDBOX-SEALED-1\n"

// stateKey loads DataDir/sandbox.key, creating it (0600) on first use.
func stateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "sandbox.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("sandbox: writing %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: reading %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("sandbox: %s is not a 32-byte hex key", path)
	}
	return key, nil
}

// sealer seals state values with AES-GCM under the key in sandbox.key. Each
// value is bound to its row key (the additional data), so a value copied into
// another row does not open.
type sealer struct{ gcm cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{gcm: gcm}, nil
}

// seal returns nonce ‖ ciphertext.
func (s *sealer) seal(plain, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.gcm.NonceSize(), s.gcm.NonceSize()+len(plain)+s.gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.gcm.Seal(nonce, nonce, plain, aad), nil
}

func (s *sealer) open(data, aad []byte) ([]byte, error) {
	n := s.gcm.NonceSize()
	if len(data) < n {
		return nil, errors.New("sealed value is truncated")
	}
	plain, err := s.gcm.Open(nil, data[:n], data[n:], aad)
	if err != nil {
		return nil, errors.New("the state does not open with sandbox.key (was the key replaced?)")
	}
	return plain, nil
}

// openLegacy returns the JSON of an earlier version's sandbox.json, sealed
// (one AES-GCM message after sealMagic, the magic as additional data) or plain.
func (s *sealer) openLegacy(data []byte) ([]byte, error) {
	rest, sealed := bytes.CutPrefix(data, []byte(sealMagic))
	if !sealed {
		return data, nil
	}
	plain, err := s.open(rest, []byte(sealMagic))
	if err != nil {
		return nil, errors.New("sandbox: " + legacyFile + " does not open with sandbox.key (was the key replaced?)")
	}
	return plain, nil
}
