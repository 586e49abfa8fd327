package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wxfleet/wxfleet"
)

// env reads configuration from WXFLEET_* variables, each also readable from a
// file named by NAME_FILE where the setting table allows it (for secrets
// mounted by an orchestrator).
type env struct {
	lookup func(string) (string, bool)
}

func newEnv(lookup func(string) (string, bool)) *env {
	return &env{lookup: lookup}
}

// get returns WXFLEET_<name> or the trimmed content of WXFLEET_<name>_FILE.
// The name must be in settingTable (settings.go): reading a variable the
// table does not declare is a bug, and it panics.
func (e *env) get(name string) (string, error) {
	s, ok := settingByEnv(name)
	if !ok {
		panic(fmt.Sprintf("WXFLEET_%s is not in settingTable (cmd/wxfleet/settings.go)", name))
	}
	key := "WXFLEET_" + name
	v, ok := e.lookup(key)
	if !s.File {
		return v, nil
	}
	f, fok := e.lookup(key + "_FILE")
	if ok && fok {
		return "", fmt.Errorf("%s and %s_FILE are both set: keep one", key, key)
	}
	if fok {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", key, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return v, nil
}

// checkUnknown refuses WXFLEET_* variables nobody reads (a typo should not
// silently fall back to a default). WXFLEET_TEST_* belong to the tests.
func checkUnknown(environ []string) error {
	known := knownEnv()
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		name, ok := strings.CutPrefix(k, "WXFLEET_")
		if !ok || strings.HasPrefix(name, "TEST_") {
			continue
		}
		if s, ok := settingByEnv(name); ok && !s.Test {
			continue
		}
		if base, ok := strings.CutSuffix(name, "_FILE"); ok {
			if s, ok := settingByEnv(base); ok && s.File && !s.Test {
				continue
			}
		}
		return fmt.Errorf("unknown setting %s in the environment (known: WXFLEET_%s; see docs/configuration.md)", k, strings.Join(known, ", WXFLEET_"))
	}
	return nil
}

// platformFile is the --platforms file: several third-party platforms in one
// installation. Secrets may be given inline or as *_file paths.
type platformFile struct {
	Platforms []struct {
		AppID      string `json:"component_appid"`
		Name       string `json:"name"`
		Secret     string `json:"secret"`
		SecretFile string `json:"secret_file"`
		Token      string `json:"token"`
		TokenFile  string `json:"token_file"`
		AESKey     string `json:"aes_key"`
		AESKeyFile string `json:"aes_key_file"`
	} `json:"platforms"`
}

func loadPlatforms(path string) ([]wxfleet.Platform, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--platforms: %w", err)
	}
	var pf platformFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pf); err != nil {
		return nil, fmt.Errorf("--platforms %s: %w", path, err)
	}
	if len(pf.Platforms) == 0 {
		return nil, fmt.Errorf("--platforms %s: no platforms listed", path)
	}
	read := func(inline, file, what string, i int) (string, error) {
		if inline != "" && file != "" {
			return "", fmt.Errorf("--platforms %s: platform %d: both %s and %s_file are set", path, i, what, what)
		}
		if file == "" {
			return inline, nil
		}
		if !filepath.IsAbs(file) {
			file = filepath.Join(filepath.Dir(path), file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--platforms %s: platform %d: %s_file: %w", path, i, what, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	var out []wxfleet.Platform
	for i, p := range pf.Platforms {
		secret, err := read(p.Secret, p.SecretFile, "secret", i)
		if err != nil {
			return nil, err
		}
		tok, err := read(p.Token, p.TokenFile, "token", i)
		if err != nil {
			return nil, err
		}
		key, err := read(p.AESKey, p.AESKeyFile, "aes_key", i)
		if err != nil {
			return nil, err
		}
		pl := wxfleet.Platform{AppID: p.AppID, Name: p.Name, Secret: wxfleet.Secret(secret), Token: wxfleet.Secret(tok), AESKey: wxfleet.Secret(key)}
		if err := checkPlatform(pl, fmt.Sprintf("--platforms %s: platform %d", path, i)); err != nil {
			return nil, err
		}
		out = append(out, pl)
	}
	return out, nil
}

func checkPlatform(p wxfleet.Platform, where string) error {
	var missing []string
	if p.AppID == "" {
		missing = append(missing, "component appid (WXFLEET_COMPONENT_APPID)")
	}
	if p.Secret == "" {
		missing = append(missing, "secret (WXFLEET_COMPONENT_SECRET)")
	}
	if p.Token == "" {
		missing = append(missing, "token (WXFLEET_COMPONENT_TOKEN)")
	}
	if p.AESKey == "" {
		missing = append(missing, "aes key (WXFLEET_COMPONENT_AES_KEY)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing %s", where, strings.Join(missing, ", "))
	}
	if len(p.AESKey) != 43 {
		return fmt.Errorf("%s: the AES key (EncodingAESKey) must be 43 characters, got %d", where, len(p.AESKey))
	}
	return nil
}

// componentFromEnv reads one platform from WXFLEET_COMPONENT_*; def fills in
// what is unset when non-nil (the demo), else everything is required.
func componentFromEnv(e *env, def *wxfleet.Platform) (wxfleet.Platform, bool, error) {
	var p wxfleet.Platform
	var vals [5]string
	for i, n := range []string{"COMPONENT_APPID", "COMPONENT_SECRET", "COMPONENT_TOKEN", "COMPONENT_AES_KEY", "COMPONENT_NAME"} {
		v, err := e.get(n)
		if err != nil {
			return p, false, err
		}
		vals[i] = v
	}
	any := vals[0] != "" || vals[1] != "" || vals[2] != "" || vals[3] != ""
	p = wxfleet.Platform{AppID: vals[0], Secret: wxfleet.Secret(vals[1]), Token: wxfleet.Secret(vals[2]), AESKey: wxfleet.Secret(vals[3]), Name: vals[4]}
	if def != nil {
		if p.AppID == "" {
			p.AppID = def.AppID
		}
		if p.Secret == "" {
			p.Secret = def.Secret
		}
		if p.Token == "" {
			p.Token = def.Token
		}
		if p.AESKey == "" {
			p.AESKey = def.AESKey
		}
	}
	if p.Name == "" {
		p.Name = "wxfleet 演示平台"
		if def != nil && def.Name != "" {
			p.Name = def.Name
		}
	}
	if !any && def == nil {
		return p, false, nil
	}
	return p, true, checkPlatform(p, "component settings")
}

var errUsage = errors.New("usage")
