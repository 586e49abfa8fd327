package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's Chromium; the test skips, saying so, without it.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI=true but no Chromium found: .ci/run must install Debian's chromium package")
	}
	t.Skip("Chromium not installed (apt-get install chromium): skipping the browser test")
	return ""
}

// browser starts a headless Chromium for t (skipping without one) and
// returns its context, cancelled after limit or at the test's end.
func browser(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	bin := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	return ctx
}

// browserWait is the ceiling of one wait in a browser test: a page, a
// click's navigation, a live update. Generous, not a timing assertion: the
// race detector on a loaded CI machine is slow.
const browserWait = 90 * time.Second

// browserDo runs steps in the browser of ctx, each batch within browserWait,
// failing t with what was being done. ctx must have run once already (the
// browser lives as long as the context of its first run).
func browserDo(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(wctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// browserPoll waits, within browserWait, until the JavaScript expression
// is true on the page shown.
func browserPoll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(browserWait))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// screenshots saves the browser tests' screenshots: under the test's temp
// dir, and also under $WXFLEET_SCREENSHOT_DIR when set (which is how the
// README's picture is made).
type screenshots struct {
	t    *testing.T
	dirs []string
}

func newScreenshots(t *testing.T) *screenshots {
	t.Helper()
	dirs := []string{filepath.Join(t.TempDir(), "screens")}
	if extra := os.Getenv("WXFLEET_SCREENSHOT_DIR"); extra != "" {
		dirs = append(dirs, extra)
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &screenshots{t: t, dirs: dirs}
}

// save writes the page shown in ctx as name.png in every directory.
func (s *screenshots) save(ctx context.Context, name string) {
	s.t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	png, err := chromedp.Run(wctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	for _, dir := range s.dirs {
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
}

// TestBrowserAuthorizesPC clicks through the PC flow as a merchant would:
// the platform's 授权 page, the sandbox's WeChat page, back to the callback,
// then the console's authorizer list.
func TestBrowserAuthorizesPC(t *testing.T) {
	ctx := browser(t, 60*time.Second)
	d := bootDemo(t)
	app := d.miniPrograms()[4]

	// The merchant comes with the operator's link, never from the visitor.
	var link struct {
		URL string `json:"url"`
	}
	if st := d.api("POST", "/api/v1/authorization-links", map[string]any{"merchant": "browser-merchant"}, &link); st != 201 {
		t.Fatalf("authorization-links: %d", st)
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	err := chromedp.Do(ctx,
		chromedp.Navigate(link.URL),
		chromedp.Click(css("#authorize-pc")),
		chromedp.WaitVisible(css("#confirm")),
		chromedp.Click(css(`input[name="appid"][value="`+app.AppID+`"]`)),
		chromedp.Click(css("#confirm")),
		chromedp.WaitVisible(css("#nickname")),
	)
	if err != nil {
		t.Fatal(err)
	}
	nickname, err := chromedp.Run(ctx, chromedp.Text(css("#nickname")))
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(d.Platform.URL()+"/authorizers"),
		chromedp.WaitVisible(css(`input[name="token"]`)),
		chromedp.SendKeys(css(`input[name="token"]`), d.AdminToken),
		chromedp.Submit(css(`input[name="token"]`)),
		chromedp.WaitVisible(css("#authorizers")),
	)
	if err != nil {
		t.Fatal(err)
	}
	list, err := chromedp.Run(ctx, chromedp.Text(css("#authorizers")))
	if err != nil {
		t.Fatal(err)
	}
	if nickname != app.Nickname {
		t.Errorf("callback shows %q, want %q", nickname, app.Nickname)
	}
	if !strings.Contains(list, app.Nickname) || !strings.Contains(list, "browser-merchant") || !strings.Contains(list, "已授权") {
		t.Errorf("authorizer list lacks the new mini program:\n%s", list)
	}
}
