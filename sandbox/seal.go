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

// The state file holds live credentials (tokens, refresh tokens) as WeChat
// would. It is sealed with AES-GCM under a key kept beside it, so that a
// copied or grepped data directory does not show them, the same courtesy the
// platform pays its own secrets. The key file makes that a speed bump, not a
// vault: this is a test double.

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

func sealState(key, plain []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte(sealMagic), nonce...)
	return gcm.Seal(out, nonce, plain, []byte(sealMagic)), nil
}

// openState returns the JSON of a state file, sealed or (older files) plain.
func openState(key, data []byte) ([]byte, error) {
	rest, sealed := bytes.CutPrefix(data, []byte(sealMagic))
	if !sealed {
		return data, nil
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(rest) < gcm.NonceSize() {
		return nil, errors.New("sandbox: sealed state file is truncated")
	}
	plain, err := gcm.Open(nil, rest[:gcm.NonceSize()], rest[gcm.NonceSize():], []byte(sealMagic))
	if err != nil {
		return nil, errors.New("sandbox: the state file does not open with sandbox.key (was the key replaced?)")
	}
	return plain, nil
}
