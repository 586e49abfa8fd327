package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet/web"
)

const rolloutUsage = `wxfleet rollout — 向小程序批量发布模板 / roll a template out to mini programs

用法 Usage:
  wxfleet rollout create  --template ID [--version V] [--desc D] (--all | --appids a,b | --tags t1,t2)
                          [--release auto|manual] [--gray N] [--batch N] [--max-failure R] [--dry-run] [--watch]
  wxfleet rollout status  ID
  wxfleet rollout watch   ID
  wxfleet rollout list
  wxfleet rollout pause|resume|cancel|retry-failed|release ID

Common flags: --url (WXFLEET_URL, default http://127.0.0.1:8080), --token (WXFLEET_ADMIN_TOKEN,
or DATA/admin.token as the demo writes it), --data DIR, --platform APPID.
`

// apiClient talks to a running wxfleet's REST API.
type apiClient struct {
	base, token, platform string
	http                  *http.Client
}

func (c *apiClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if c.platform != "" {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "platform=" + url.QueryEscape(c.platform)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("无法连接 wxfleet / cannot reach wxfleet at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e web.ErrorBody
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			msg := e.Message
			if e.MessageEN != "" {
				msg += " / " + e.MessageEN
			}
			return fmt.Errorf("%s (%s, HTTP %d, request %s)", msg, e.Code, resp.StatusCode, e.RequestID)
		}
		return fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// rolloutView is what the CLI reads of GET /api/v1/rollouts/{id}.
type rolloutView struct {
	ID           int64          `json:"id"`
	TemplateID   int64          `json:"template_id"`
	UserVersion  string         `json:"user_version"`
	Status       string         `json:"status"`
	StatusReason string         `json:"status_reason"`
	Cohort       int            `json:"cohort"`
	Cohorts      int            `json:"cohorts"`
	Counts       map[string]int `json:"counts"`
}

func (v rolloutView) final() bool {
	return v.Status == "completed" || v.Status == "cancelled" || v.Status == "failed"
}

func runRollout(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, rolloutUsage)
		return errUsage
	}
	sub, rest := args[0], args[1:]
	cs := newCmdSettings("rollout", "rollout "+sub, e, stderr)
	fs := cs.fs
	var req struct {
		TemplateID      int64    `json:"template_id"`
		UserVersion     string   `json:"user_version,omitempty"`
		UserDesc        string   `json:"user_desc,omitempty"`
		Targets         any      `json:"targets"`
		Release         string   `json:"release,omitempty"`
		GrayPercentage  int      `json:"gray_percentage,omitempty"`
		BatchSize       int      `json:"batch_size,omitempty"`
		MaxFailureRatio *float64 `json:"max_failure_ratio,omitempty"`
		DryRun          bool     `json:"dry_run,omitempty"`
	}
	var all, watch bool
	var appids, tags string
	maxFail := -1.0
	if sub == "create" {
		fs.Int64Var(&req.TemplateID, "template", 0, "template id (wxfleet templates)")
		fs.StringVar(&req.UserVersion, "version", "", "user_version (default: the template's)")
		fs.StringVar(&req.UserDesc, "desc", "", "user_desc (default: the template's)")
		fs.BoolVar(&all, "all", false, "every authorized mini program")
		fs.StringVar(&appids, "appids", "", "comma-separated appids")
		fs.StringVar(&tags, "tags", "", "comma-separated tags")
		fs.StringVar(&req.Release, "release", "auto", "auto or manual")
		fs.IntVar(&req.GrayPercentage, "gray", 0, "gray release percentage (0: full release)")
		fs.IntVar(&req.BatchSize, "batch", 0, "apps per cohort (default 100)")
		fs.Float64Var(&maxFail, "max-failure", -1, "failure ratio that pauses the rollout (default 0.1)")
		fs.BoolVar(&req.DryRun, "dry-run", false, "list what would happen, send nothing")
		fs.BoolVar(&watch, "watch", false, "watch the progress after creating")
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	c, err := newAPIClient(cs)
	if err != nil {
		return err
	}
	id := func() (int64, error) {
		if fs.NArg() != 1 {
			return 0, fmt.Errorf("rollout %s needs the rollout id: wxfleet rollout %s ID", sub, sub)
		}
		return strconv.ParseInt(fs.Arg(0), 10, 64)
	}
	switch sub {
	case "create":
		switch {
		case all:
			req.Targets = map[string]bool{"all": true}
		case appids != "":
			req.Targets = map[string][]string{"appids": strings.Split(appids, ",")}
		case tags != "":
			req.Targets = map[string][]string{"tags": strings.Split(tags, ",")}
		default:
			return errors.New("rollout create needs --all, --appids or --tags")
		}
		if maxFail >= 0 {
			req.MaxFailureRatio = &maxFail
		}
		if req.DryRun {
			var plan struct {
				Items                 []struct{ AppID, Action, Reason string } `json:"items"`
				Commit, Skip, Cohorts int
			}
			if err := c.do(ctx, http.MethodPost, "/api/v1/rollouts", req, &plan); err != nil {
				return err
			}
			for _, it := range plan.Items {
				fmt.Fprintf(stdout, "%-20s %-6s %s\n", it.AppID, it.Action, it.Reason)
			}
			fmt.Fprintf(stdout, "将提交 %d 个，跳过 %d 个，共 %d 批 / would commit %d, skip %d, in %d cohorts\n",
				plan.Commit, plan.Skip, plan.Cohorts, plan.Commit, plan.Skip, plan.Cohorts)
			return nil
		}
		var v rolloutView
		if err := c.do(ctx, http.MethodPost, "/api/v1/rollouts", req, &v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "发布任务 %d 已创建 / rollout %d created\n", v.ID, v.ID)
		if watch {
			return watchRollout(ctx, c, v.ID, stdout)
		}
		return nil
	case "status":
		n, err := id()
		if err != nil {
			return err
		}
		var v rolloutView
		if err := c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+strconv.FormatInt(n, 10), nil, &v); err != nil {
			return err
		}
		fmt.Fprintln(stdout, progressLine(v, 40))
		return nil
	case "watch":
		n, err := id()
		if err != nil {
			return err
		}
		return watchRollout(ctx, c, n, stdout)
	case "list":
		var out struct {
			Items []rolloutView `json:"items"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/rollouts", nil, &out); err != nil {
			return err
		}
		for _, v := range out.Items {
			fmt.Fprintln(stdout, progressLine(v, 20))
		}
		return nil
	case "pause", "resume", "cancel", "retry-failed", "release":
		n, err := id()
		if err != nil {
			return err
		}
		var v rolloutView
		if err := c.do(ctx, http.MethodPost, "/api/v1/rollouts/"+strconv.FormatInt(n, 10)+"/"+sub, struct{}{}, &v); err != nil {
			return err
		}
		fmt.Fprintln(stdout, progressLine(v, 40))
		return nil
	}
	fmt.Fprintf(stderr, "unknown rollout command %q\n\n%s", sub, rolloutUsage)
	return errUsage
}

func newAPIClient(cs *cmdSettings) (*apiClient, error) {
	base, err := cs.get("url")
	if err != nil {
		return nil, err
	}
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	tok, err := cs.get("token")
	if err != nil {
		return nil, err
	}
	platform, err := cs.get("platform")
	if err != nil {
		return nil, err
	}
	if tok == "" {
		data, err := cs.get("data")
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(filepath.Join(data, "admin.token"))
		if err != nil {
			return nil, fmt.Errorf("没有管理令牌：用 --token、WXFLEET_ADMIN_TOKEN 或 %s / no admin token: give --token, WXFLEET_ADMIN_TOKEN or %s",
				filepath.Join(data, "admin.token"), filepath.Join(data, "admin.token"))
		}
		tok = strings.TrimSpace(string(b))
	}
	return &apiClient{base: strings.TrimRight(base, "/"), token: tok, platform: platform, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// watchRollout redraws the progress line every second until the rollout is
// final (or the context ends).
func watchRollout(ctx context.Context, c *apiClient, id int64, out io.Writer) error {
	return watchProgress(ctx, out, func() (string, bool, error) {
		var v rolloutView
		if err := c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+strconv.FormatInt(id, 10), nil, &v); err != nil {
			return "", false, err
		}
		return progressLine(v, 40), v.final(), nil
	})
}

// watchProgress shows what poll reports every second until it is final (or
// the context ends): redrawn in place on a terminal, a line per change
// otherwise.
func watchProgress(ctx context.Context, out io.Writer, poll func() (line string, final bool, err error)) error {
	tty := isTerminal(out)
	last := ""
	for {
		line, final, err := poll()
		if err != nil {
			return err
		}
		switch {
		case tty:
			fmt.Fprintf(out, "\r\033[K%s", line)
		case line != last:
			fmt.Fprintln(out, line)
		}
		last = line
		if final {
			if tty {
				fmt.Fprintln(out)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(out)
			}
			return nil
		case <-time.After(time.Second):
		}
	}
}

// progressBar draws done of total as a bar width characters wide.
func progressBar(done, total, width int) string {
	filled := 0
	if total > 0 {
		filled = min(done*width/total, width)
	}
	return strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
}

// progressLine draws a rollout as one line: a bar of done apps and the counts.
func progressLine(v rolloutView, width int) string {
	total := v.Counts["total"]
	done := v.Counts["released"] + v.Counts["rejected"] + v.Counts["failed"] + v.Counts["skipped"] + v.Counts["cancelled"]
	bar := progressBar(done, total, width)
	line := fmt.Sprintf("#%d v%s %-9s [%s] %d/%d  批次 cohort %d/%d  提交 committed %d 审核中 auditing %d 通过 approved %d 已发布 released %d 驳回 rejected %d 失败 failed %d 跳过 skipped %d",
		v.ID, v.UserVersion, v.Status, bar, done, total, min(v.Cohort+1, max(v.Cohorts, 1)), v.Cohorts,
		v.Counts["committed"], v.Counts["auditing"], v.Counts["approved"], v.Counts["released"], v.Counts["rejected"], v.Counts["failed"], v.Counts["skipped"])
	if v.StatusReason != "" {
		line += "  (" + v.StatusReason + ")"
	}
	return line
}

// isTerminal tells whether w is a character device (a terminal), so the
// progress line can be redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
