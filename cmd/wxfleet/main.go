// Command wxfleet runs the wxfleet platform for WeChat third-party platforms
// (第三方平台), its WeChat sandbox, or both together as a demo.
//
//	wxfleet demo      platform + sandbox in one process, nothing to set up
//	wxfleet serve     the platform alone
//	wxfleet sandbox   the WeChat sandbox alone
//	wxfleet migrate   apply database migrations
//	wxfleet keygen    print a new master key for WXFLEET_MASTER_KEY
//	wxfleet rotate-key re-seal every secret under a new master key
//	wxfleet crypt     encrypt/decrypt WeChat push envelopes by hand
//	wxfleet rollout   roll a template out to mini programs and watch it
//	wxfleet account   create console accounts, reset a password, disable one
//	wxfleet backup    copy the SQLite database while it runs; restore puts one back
//	wxfleet version   print the version, commit and Go version
//	wxfleet config    print the configuration reference from the settings table
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `wxfleet — 微信第三方平台服务 / a platform for WeChat third-party platforms

用法 Usage:
  wxfleet demo     [--addr 127.0.0.1:8080] [--sandbox-addr 127.0.0.1:8081] [--data DIR]
  wxfleet serve    [--addr ADDR] [--data DIR] [--database DSN] [--wechat-url URL] [--platforms FILE]
  wxfleet sandbox  [--addr ADDR] [--data DIR] [--platform-url URL]
  wxfleet migrate  [--data DIR] [--database DSN] [--status | --to N]
  wxfleet backup   --out FILE [--data DIR] [--database PATH]   (SQLite; PostgreSQL: pg_dump)
  wxfleet restore  --from FILE [--data DIR] [--database PATH]  (wxfleet stopped)
  wxfleet keygen   print a new master key (base64, 32 bytes) for WXFLEET_MASTER_KEY
  wxfleet rotate-key [--data DIR] [--database DSN] [--status]   re-seal every secret under the new
                   WXFLEET_MASTER_KEY (old key: WXFLEET_MASTER_KEY_OLD or DATA/master.key); resumable
  wxfleet crypt    decrypt|encrypt --token T --aes-key K --appid A [...]
  wxfleet rollout  create|status|watch|list|pause|resume|cancel|retry-failed|release [...]
  wxfleet fleet-action create|status|watch|list [...]   domains, privacy guide or testers fleet-wide
  wxfleet template policy get|set ID [--file F | --clear]   a template's domain and privacy policy
  wxfleet account  create|list|reset-password|disable|enable [--email E --role R ...]
  wxfleet healthcheck [--url URL]   exit 0 when the platform answers /readyz with 200
  wxfleet version  print the version, commit and Go version
  wxfleet config docs [--out FILE]  print the configuration reference (docs/configuration.md)

Run "wxfleet <command> -h" for a command's flags. Settings also come from
WXFLEET_* environment variables (and WXFLEET_*_FILE); every one is listed in
docs/configuration.md.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful stop; restoring the default
	// disposition lets a second one end the process at once.
	go func() { <-ctx.Done(); stop() }()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv, os.Environ())
	stop()
	if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wxfleet:", err)
		os.Exit(1)
	}
}

// run dispatches a command line; main and tests share it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookup func(string) (string, bool), environ []string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	if cmd != "crypt" {
		if err := checkUnknown(environ); err != nil {
			return err
		}
	}
	e := newEnv(lookup)
	switch cmd {
	case "serve":
		return runServe(ctx, rest, e, stdout, stderr)
	case "sandbox":
		return runSandbox(ctx, rest, e, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, e, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, e, stdout, stderr)
	case "crypt":
		return runCrypt(rest, stdin, stdout, stderr)
	case "rollout":
		return runRollout(ctx, rest, e, stdout, stderr)
	case "fleet-action":
		return runFleetAction(ctx, rest, e, stdout, stderr)
	case "template":
		return runTemplate(ctx, rest, stdin, e, stdout, stderr)
	case "account":
		return runAccount(ctx, rest, stdin, e, stdout, stderr)
	case "keygen":
		return runKeygen(rest, stdout)
	case "version", "--version":
		return runVersion(rest, stdout)
	case "backup":
		return runBackup(ctx, rest, e, stdout, stderr)
	case "restore":
		return runRestore(ctx, rest, e, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, rest, e, stdout, stderr)
	case "rotate-key":
		return runRotateKey(ctx, rest, e, stdout, stderr)
	case "config":
		return runConfig(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

// newLogger builds the process logger from WXFLEET_LOG_LEVEL / _FORMAT.
func newLogger(e *env, w io.Writer) (*slog.Logger, error) {
	lvl, err := e.get("LOG_LEVEL")
	if err != nil {
		return nil, err
	}
	var level slog.Level
	if lvl != "" {
		if err := level.UnmarshalText([]byte(lvl)); err != nil {
			return nil, fmt.Errorf("WXFLEET_LOG_LEVEL %q: use debug, info, warn or error", lvl)
		}
	}
	format, err := e.get("LOG_FORMAT")
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("WXFLEET_LOG_FORMAT %q: use text or json", format)
	}
}
