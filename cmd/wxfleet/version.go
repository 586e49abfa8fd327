package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit are set at build time:
//
//	go build -ldflags "-X main.version=1.2.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/wxfleet
//
// They are package variables only because the linker's -X can set nothing
// else; nothing writes them at run time. Left empty (a plain `go build` or
// `go install`), buildInfo falls back to what the Go toolchain recorded.
var (
	version string
	commit  string
)

// build describes this binary.
type build struct {
	Version  string // release version, "devel" when unknown
	Commit   string // VCS revision, "" when unknown
	Time     string // commit time (RFC 3339), "" when unknown
	Modified bool   // built from a work tree with uncommitted changes
	Go       string // Go version, e.g. go1.26.8
	Platform string // GOOS/GOARCH
}

// buildInfo merges the linker-set values with debug.ReadBuildInfo: the
// module version (set by `go install module@version`) and the vcs.* settings
// `go build` records in a Git checkout.
func buildInfo() build {
	b := build{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

// String is the one-line form the logs use: "1.2.0 (abc1234, go1.26.8)".
func (b build) String() string {
	c := "unknown commit"
	if b.Commit != "" {
		c = b.Commit[:min(12, len(b.Commit))]
		if b.Modified {
			c += "+dirty"
		}
	}
	return fmt.Sprintf("%s (%s, %s)", b.Version, c, b.Go)
}

// runVersion prints the version, commit and Go version.
func runVersion(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("version: unexpected argument %q", args[0])
	}
	b := buildInfo()
	var sb strings.Builder
	fmt.Fprintf(&sb, "wxfleet %s\n", b.Version)
	switch {
	case b.Commit == "":
		sb.WriteString("commit  unknown (no -ldflags -X main.commit, and the toolchain recorded no Git revision)\n")
	default:
		fmt.Fprintf(&sb, "commit  %s", b.Commit)
		if b.Time != "" {
			fmt.Fprintf(&sb, " (%s)", b.Time)
		}
		if b.Modified {
			sb.WriteString(" with uncommitted changes")
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "go      %s %s\n", b.Go, b.Platform)
	_, err := io.WriteString(stdout, sb.String())
	return err
}
