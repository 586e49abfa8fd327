package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildWxfleet builds the real binary into a temp dir with extra go build
// arguments (e.g. -ldflags) and returns its path.
func buildWxfleet(t *testing.T, args ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the wxfleet binary")
	}
	bin := filepath.Join(t.TempDir(), "wxfleet")
	cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, args...), ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestVersionFromLdflags(t *testing.T) {
	bin := buildWxfleet(t, "-ldflags", "-X main.version=9.8.7-test -X main.commit=0123456789abcdef0123456789abcdef01234567")
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("wxfleet version: %v\n%s", err, out)
	}
	for _, want := range []string{"wxfleet 9.8.7-test\n", "commit  0123456789abcdef0123456789abcdef01234567", "go      " + runtime.Version()} {
		if !strings.Contains(string(out), want) {
			t.Errorf("wxfleet version printed %q, want it to contain %q", out, want)
		}
	}
}

// A plain go build still reports something true: the Git revision the
// toolchain recorded in the binary (go version -m), or that it is unknown
// (outside a checkout, or with -buildvcs=false, as on some machines).
func TestVersionOfPlainBuild(t *testing.T) {
	bin := buildWxfleet(t)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("wxfleet version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "wxfleet devel\n") {
		t.Errorf("plain build: %q, want it to start with wxfleet devel", out)
	}
	meta, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	rev := ""
	for _, line := range strings.Split(string(meta), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision=") {
			rev = strings.TrimPrefix(f[1], "vcs.revision=")
		}
	}
	want := "commit  unknown"
	if rev != "" {
		want = "commit  " + rev
	}
	if !strings.Contains(string(out), want) {
		t.Errorf("plain build (toolchain recorded revision %q): %q, want %q", rev, out, want)
	}
	t.Logf("plain build: %s", strings.ReplaceAll(string(out), "\n", "; "))
}

func TestProbeAddr(t *testing.T) {
	for in, want := range map[string]string{
		"":               "127.0.0.1:8080",
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:9000":   "127.0.0.1:9000",
		"[::]:9000":      "[::1]:9000",
		"10.0.0.5:8080":  "10.0.0.5:8080",
		"127.0.0.1:8081": "127.0.0.1:8081",
	} {
		if got := probeAddr(in); got != want {
			t.Errorf("probeAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	d := bootDemo(t)
	out, _, err := runCmd(t, "", nil, "healthcheck", "--url", d.Platform.URL()+"/readyz")
	if err != nil || !strings.Contains(out, "ready") {
		t.Fatalf("healthcheck of a running demo: %q, %v", out, err)
	}
	// The default URL comes from WXFLEET_ADDR.
	addr := strings.TrimPrefix(d.Platform.URL(), "http://")
	if _, _, err := runCmd(t, "", map[string]string{"WXFLEET_ADDR": addr}, "healthcheck"); err != nil {
		t.Fatalf("healthcheck with WXFLEET_ADDR=%s: %v", addr, err)
	}
	// A route that is not 200 fails, and so does a port nobody listens on.
	if _, _, err := runCmd(t, "", nil, "healthcheck", "--url", d.Platform.URL()+"/no-such-page"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("healthcheck of a 404: %v, want an error naming 404", err)
	}
	d.Close()
	if _, _, err := runCmd(t, "", nil, "healthcheck", "--url", d.Platform.URL()+"/readyz"); err == nil {
		t.Error("healthcheck of a stopped platform passed")
	}
}
