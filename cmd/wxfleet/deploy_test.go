package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// repoFile reads a file of the repository (tests run in cmd/wxfleet).
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// settingNames are the WXFLEET_* names a file mentions.
func settingNames(text string) []string {
	return regexp.MustCompile(`WXFLEET_[A-Z0-9_]+`).FindAllString(text, -1)
}

// Every WXFLEET_* variable the deployment files set is one serve knows: the
// unknown-variable check would refuse to start otherwise.
func TestDeployFilesUseKnownSettings(t *testing.T) {
	for _, f := range []string{"Dockerfile", "deploy/systemd/wxfleet.service", "deploy/systemd/wxfleet.env.example", "deploy/compose/docker-compose.yml"} {
		var environ []string
		for _, name := range settingNames(repoFile(t, f)) {
			switch name {
			case "WXFLEET_VERSION", "WXFLEET_COMMIT": // compose's own build variables
				continue
			}
			environ = append(environ, name+"=x")
		}
		if len(environ) == 0 {
			t.Errorf("%s sets no WXFLEET_* setting", f)
		}
		if err := checkUnknown(environ); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// The Dockerfile is checked by reading it: CI does not build images. What
// matters is that the image runs as a non-root user, keeps its state in a
// volume, probes /readyz with the binary itself and builds a static binary.
func TestDockerfile(t *testing.T) {
	df := repoFile(t, "Dockerfile")
	lines := strings.Split(df, "\n")
	var froms, users []string
	var healthcheck string
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, l)
		case "USER":
			users = append(users, f[1])
		case "HEALTHCHECK":
			healthcheck = l
			for j := i; strings.HasSuffix(strings.TrimSpace(lines[j]), "\\") && j+1 < len(lines); j++ {
				healthcheck += " " + lines[j+1]
			}
		}
	}
	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, found FROM lines %q", froms)
	}
	if len(users) == 0 {
		t.Fatal("no USER: the image would run as root")
	}
	user, _, _ := strings.Cut(users[len(users)-1], ":")
	if uid, err := strconv.Atoi(user); user == "root" || (err == nil && uid == 0) {
		t.Errorf("final USER %q is root", users[len(users)-1])
	}
	if !strings.Contains(healthcheck, `"healthcheck"`) || strings.Contains(healthcheck, "curl") {
		t.Errorf("HEALTHCHECK %q: want the binary's own healthcheck command (the image has no curl)", healthcheck)
	}
	for _, want := range []string{"CGO_ENABLED=0", `VOLUME ["/data"]`, "WXFLEET_DATA=/data", "-X main.version=", "-X main.commit=", "STOPSIGNAL SIGTERM"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	// The default listen address must be reachable from outside the
	// container, and healthcheck must turn it into a local one.
	if got := probeAddr(":8080"); got != "127.0.0.1:8080" {
		t.Errorf("healthcheck would probe %s for WXFLEET_ADDR=:8080", got)
	}
	ignore := repoFile(t, ".dockerignore")
	for _, want := range []string{"wxfleet-data", "deploy/compose/secrets"} {
		if !strings.Contains(ignore, want) {
			t.Errorf(".dockerignore does not keep %s out of the build context", want)
		}
	}
}

// The compose file runs two serve instances on one PostgreSQL database, each
// with the master key PostgreSQL requires, from secret files.
func TestComposeFile(t *testing.T) {
	c := repoFile(t, "deploy/compose/docker-compose.yml")
	for _, want := range []string{"image: postgres:", "WXFLEET_DATABASE_FILE: /run/secrets/database_url",
		"WXFLEET_MASTER_KEY_FILE: /run/secrets/master_key", "WXFLEET_ADMIN_TOKEN_FILE:", "WXFLEET_PLATFORMS:", "stop_grace_period:"} {
		if !strings.Contains(c, want) {
			t.Errorf("docker-compose.yml lacks %q", want)
		}
	}
	instances := regexp.MustCompile(`(?m)^  (wxfleet-\d+):\n    <<: \*wxfleet\n`).FindAllStringSubmatch(c, -1)
	if len(instances) != 2 {
		t.Errorf("docker-compose.yml: %d serve instances built on the shared wxfleet block, want 2", len(instances))
	}
	if !strings.Contains(c, `command: ["serve"]`) {
		t.Error(`the shared wxfleet block does not run serve`)
	}
	// Every secret the services name is declared with a file secrets.sh makes.
	script := repoFile(t, "deploy/compose/secrets.sh")
	for _, m := range regexp.MustCompile(`(?m)^    file: \./secrets/(\w+)$`).FindAllStringSubmatch(c, -1) {
		if !strings.Contains(script, m[1]) {
			t.Errorf("secrets.sh does not make secrets/%s", m[1])
		}
	}
	// The compose platforms file is a valid --platforms file once its
	// secrets exist.
	loadPlatformsWithSecrets(t, "deploy/compose/platforms.json", 1)
}

// The example config for several platforms is a valid --platforms file.
func TestPlatformsExample(t *testing.T) {
	loadPlatformsWithSecrets(t, "deploy/platforms.example.json", 3)
}

// loadPlatformsWithSecrets copies a platforms file into a temp dir, makes
// the secret files it names there (absolute paths are re-rooted into the
// temp dir), and loads it.
func loadPlatformsWithSecrets(t *testing.T, rel string, want int) {
	t.Helper()
	dir := t.TempDir()
	text := repoFile(t, rel)
	for _, m := range regexp.MustCompile(`"(\w+)_file": "([^"]+)"`).FindAllStringSubmatch(text, -1) {
		path := m[2]
		if filepath.IsAbs(path) {
			re := filepath.Join(dir, "abs", path)
			text = strings.Replace(text, `"`+path+`"`, `"`+re+`"`, 1)
			path = re
		} else {
			path = filepath.Join(dir, path)
		}
		value := "secret-of-" + filepath.Base(path)
		if m[1] == "aes_key" {
			value = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pf := filepath.Join(dir, "platforms.json")
	if err := os.WriteFile(pf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ps, err := loadPlatforms(pf)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if len(ps) != want {
		t.Fatalf("%s: %d platforms, want %d", rel, len(ps), want)
	}
	for _, p := range ps {
		if !strings.HasPrefix(p.Secret.Reveal(), "secret-of-") {
			t.Errorf("%s: platform %s did not read its secret file", rel, p.AppID)
		}
	}
}

// The systemd unit passes systemd-analyze verify with the real binary as
// ExecStart, and its hardening rates "OK" in systemd-analyze security.
func TestSystemdUnit(t *testing.T) {
	unit := repoFile(t, "deploy/systemd/wxfleet.service")
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=wxfleet", "NoNewPrivileges=yes",
		"Environment=WXFLEET_DATA=/var/lib/wxfleet", "ExecStart=/usr/local/bin/wxfleet serve"} {
		if !strings.Contains(unit, want+"\n") {
			t.Errorf("wxfleet.service lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: checked the unit's text only, not systemd's verdict on it")
	}
	bin := buildWxfleet(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "wxfleet.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/wxfleet", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=yes", path).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "offline") {
			t.Skipf("this systemd-analyze cannot rate units offline: %s", out)
		}
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for wxfleet\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	if level > 2.0 {
		t.Errorf("exposure level %.1f, want at most 2.0 (systemd calls up to 3.9 \"OK\"):\n%s", level, out)
	}
	t.Logf("systemd-analyze security: exposure %.1f", level)
}
