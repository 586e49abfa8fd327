package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
)

const fleetActionUsage = `wxfleet fleet-action — 对整个小程序群应用设置 / apply a setting to many mini programs

用法 Usage:
  wxfleet fleet-action create --kind setup|bind_tester|unbind_tester (--all | --appids a,b | --tags t1,t2)
                              [--template ID] [--wechatid W] [--userstr U] [--watch]
  wxfleet fleet-action status ID
  wxfleet fleet-action watch  ID
  wxfleet fleet-action list

  setup: 模板声明的域名、业务域名与隐私指引（--template，默认最新声明策略的模板）
         the template's domains, web-view domains and privacy guide (--template; default the newest declaring one)
  bind_tester / unbind_tester: 体验者（--wechatid，解绑也可用 --userstr）/ an experience member (--wechatid; unbind also --userstr)

Common flags: --url (WXFLEET_URL, default http://127.0.0.1:8080), --token (WXFLEET_ADMIN_TOKEN,
or DATA/admin.token as the demo writes it), --data DIR, --platform APPID.
`

const templateUsage = `wxfleet template — 模板的域名与隐私策略 / a template's domain and privacy policy

用法 Usage:
  wxfleet template policy get ID
  wxfleet template policy set ID (--file policy.json | --file - | --clear)

  策略 JSON / the policy JSON: {"domains":{"requestdomain":[...],"wsrequestdomain":[...],"uploaddomain":[...],
  "downloaddomain":[...],"udpdomain":[...],"tcpdomain":[...]},"webviewdomain":[...],
  "privacy":{"owner_setting":{...},"setting_list":[{"privacy_key":"...","privacy_text":"..."}]}}
  新授权的小程序自动应用；已授权的用 wxfleet fleet-action create --kind setup
  apps authorizing later get it at once; for those authorized already: wxfleet fleet-action create --kind setup

Common flags: --url, --token, --data, --platform (as wxfleet rollout).
`

// fleetView is what the CLI reads of GET /api/v1/fleet-actions/{id}.
type fleetView struct {
	ID         int64          `json:"id"`
	Kind       string         `json:"kind"`
	TemplateID int64          `json:"template_id"`
	WeChatID   string         `json:"wechatid"`
	UserStr    string         `json:"userstr"`
	Status     string         `json:"status"`
	Counts     map[string]int `json:"counts"`
}

func (v fleetView) final() bool { return v.Status == "completed" }

// fleetApp is one app of GET /api/v1/fleet-actions/{id}/apps.
type fleetAppView struct {
	AppID       string `json:"appid"`
	State       string `json:"state"`
	Result      string `json:"result"`
	LastErrcode int    `json:"last_errcode"`
	LastError   string `json:"last_error"`
}

func runFleetAction(ctx context.Context, args []string, e *env, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, fleetActionUsage)
		return errUsage
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "create", "status", "watch", "list":
	case "help", "-h", "--help":
		fmt.Fprint(stdout, fleetActionUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "unknown fleet-action command %q\n\n%s", sub, fleetActionUsage)
		return errUsage
	}
	cs := newCmdSettings("fleet-action", "fleet-action "+sub, e, stderr)
	fs := cs.fs
	var req struct {
		Kind       string `json:"kind"`
		TemplateID int64  `json:"template_id,omitempty"`
		WeChatID   string `json:"wechatid,omitempty"`
		UserStr    string `json:"userstr,omitempty"`
		Targets    any    `json:"targets"`
	}
	var all, watch bool
	var appids, tags string
	if sub == "create" {
		fs.StringVar(&req.Kind, "kind", "", "setup, bind_tester or unbind_tester")
		fs.Int64Var(&req.TemplateID, "template", 0, "setup: the template whose policy to apply (default: the newest declaring one)")
		fs.StringVar(&req.WeChatID, "wechatid", "", "bind_tester, unbind_tester: the WeChat id")
		fs.StringVar(&req.UserStr, "userstr", "", "unbind_tester: the userstr instead of the WeChat id")
		fs.BoolVar(&all, "all", false, "every authorized mini program")
		fs.StringVar(&appids, "appids", "", "comma-separated appids")
		fs.StringVar(&tags, "tags", "", "comma-separated tags")
		fs.BoolVar(&watch, "watch", false, "watch the progress after creating")
	}
	operands, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	c, err := newAPIClient(cs)
	if err != nil {
		return err
	}
	switch sub {
	case "create", "list":
		if len(operands) != 0 {
			return fmt.Errorf("多余的参数 %q / unexpected argument %q", operands[0], operands[0])
		}
	}
	switch sub {
	case "create":
		if req.Kind == "" {
			return errors.New("缺少 --kind（setup、bind_tester 或 unbind_tester）/ fleet-action create needs --kind setup, bind_tester or unbind_tester")
		}
		if req.Targets, err = targetsFromFlags(all, appids, tags); err != nil {
			return err
		}
		var v fleetView
		if err := c.do(ctx, http.MethodPost, "/api/v1/fleet-actions", req, &v); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "批量操作 %d 已创建 / fleet action %d created\n", v.ID, v.ID)
		if watch {
			return watchFleetAction(ctx, c, v.ID, stdout)
		}
		return nil
	case "status":
		n, err := oneID(operands, "fleet-action", sub)
		if err != nil {
			return err
		}
		v, err := getFleetAction(ctx, c, n)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, fleetProgressLine(v, 40))
		if v.Counts["failed"] == 0 && v.Counts["skipped"] == 0 {
			return nil
		}
		// The apps that did not take the setting, with WeChat's error or the reason.
		for _, state := range []string{"failed", "skipped"} {
			var out struct {
				Items []fleetAppView `json:"items"`
			}
			path := fmt.Sprintf("/api/v1/fleet-actions/%d/apps?limit=1000&state=%s", n, url.QueryEscape(state))
			if err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
				return err
			}
			for _, a := range out.Items {
				why := a.Result
				if a.LastError != "" {
					why = a.LastError
				}
				if a.LastErrcode != 0 && !strings.Contains(why, "errcode") {
					why = fmt.Sprintf("errcode %d: %s", a.LastErrcode, why)
				}
				fmt.Fprintf(stdout, "  %-20s %-7s %s\n", a.AppID, a.State, why)
			}
		}
		return nil
	case "watch":
		n, err := oneID(operands, "fleet-action", sub)
		if err != nil {
			return err
		}
		return watchFleetAction(ctx, c, n, stdout)
	default: // list
		var out struct {
			Items []fleetView `json:"items"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/fleet-actions", nil, &out); err != nil {
			return err
		}
		for _, v := range out.Items {
			fmt.Fprintln(stdout, fleetProgressLine(v, 20))
		}
		return nil
	}
}

// parseInterspersed parses flags before and after the operands (wxfleet
// template policy set 7 --file p.json) and returns the operands.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return operands, nil
		}
		operands = append(operands, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// targetsFromFlags is the "targets" object of --all, --appids or --tags.
func targetsFromFlags(all bool, appids, tags string) (any, error) {
	n := 0
	for _, set := range []bool{all, appids != "", tags != ""} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return nil, errors.New("请给出 --all、--appids 或 --tags 之一 / give one of --all, --appids or --tags")
	case all:
		return map[string]bool{"all": true}, nil
	case appids != "":
		return map[string][]string{"appids": splitList(appids)}, nil
	default:
		return map[string][]string{"tags": splitList(tags)}, nil
	}
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// oneID reads the single numeric operand of "wxfleet cmd sub ID".
func oneID(args []string, cmd, sub string) (int64, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("缺少编号 / %s %s needs the id: wxfleet %s %s ID", cmd, sub, cmd, sub)
	}
	n, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("编号 %q 不是正整数 / id %q is not a positive number", args[0], args[0])
	}
	return n, nil
}

func getFleetAction(ctx context.Context, c *apiClient, id int64) (fleetView, error) {
	var v fleetView
	err := c.do(ctx, http.MethodGet, "/api/v1/fleet-actions/"+strconv.FormatInt(id, 10), nil, &v)
	return v, err
}

// watchFleetAction redraws the progress line every second until the action
// is completed (or the context ends).
func watchFleetAction(ctx context.Context, c *apiClient, id int64, out io.Writer) error {
	return watchProgress(ctx, out, func() (string, bool, error) {
		v, err := getFleetAction(ctx, c, id)
		if err != nil {
			return "", false, err
		}
		return fleetProgressLine(v, 40), v.final(), nil
	})
}

// fleetProgressLine draws a fleet action as one line: a bar of the apps
// done, failed or skipped, and the counts.
func fleetProgressLine(v fleetView, width int) string {
	total := v.Counts["total"]
	done := v.Counts["done"] + v.Counts["failed"] + v.Counts["skipped"]
	bar := progressBar(done, total, width)
	what := v.Kind
	switch {
	case v.TemplateID != 0:
		what += " template " + strconv.FormatInt(v.TemplateID, 10)
	case v.WeChatID != "":
		what += " " + v.WeChatID
	case v.UserStr != "":
		what += " " + v.UserStr
	}
	return fmt.Sprintf("#%d %s %-9s [%s] %d/%d  完成 done %d 失败 failed %d 跳过 skipped %d 待处理 pending %d",
		v.ID, what, v.Status, bar, done, total, v.Counts["done"], v.Counts["failed"], v.Counts["skipped"], v.Counts["pending"])
}

func runTemplate(ctx context.Context, args []string, stdin io.Reader, e *env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "policy" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, templateUsage)
			return nil
		}
		fmt.Fprint(stderr, templateUsage)
		return errUsage
	}
	if len(args) < 2 || (args[1] != "get" && args[1] != "set") {
		fmt.Fprint(stderr, templateUsage)
		return errUsage
	}
	sub, rest := args[1], args[2:]
	cs := newCmdSettings("template", "template policy "+sub, e, stderr)
	fs := cs.fs
	var file string
	var clear bool
	if sub == "set" {
		fs.StringVar(&file, "file", "", `the policy JSON file ("-": standard input)`)
		fs.BoolVar(&clear, "clear", false, "remove the template's policy")
	}
	operands, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	id, err := oneID(operands, "template policy", sub)
	if err != nil {
		return err
	}
	c, err := newAPIClient(cs)
	if err != nil {
		return err
	}
	path := "/api/v1/templates/" + strconv.FormatInt(id, 10)
	var t struct {
		TemplateID  int64           `json:"template_id"`
		UserVersion string          `json:"user_version"`
		Policy      json.RawMessage `json:"policy"`
	}
	if sub == "get" {
		if err := c.do(ctx, http.MethodGet, path, nil, &t); err != nil {
			return err
		}
		return printPolicy(stdout, t.Policy)
	}
	var body json.RawMessage
	switch {
	case clear && file != "":
		return errors.New("--file 与 --clear 只能选一个 / give --file or --clear, not both")
	case clear:
		body = json.RawMessage(`{}`)
	case file == "":
		return errors.New("缺少 --file（策略 JSON，- 为标准输入）或 --clear / template policy set needs --file (the policy JSON, - for standard input) or --clear")
	default:
		var data []byte
		if file == "-" {
			data, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
		} else {
			data, err = os.ReadFile(file)
		}
		if err != nil {
			return fmt.Errorf("读取策略失败 / cannot read the policy: %w", err)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return fmt.Errorf("策略不是 JSON 对象 / the policy is not a JSON object: %w", err)
		}
		body = data
	}
	if err := c.do(ctx, http.MethodPut, path+"/policy", body, &t); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "模板 %d 的策略已保存 / template %d policy saved\n", t.TemplateID, t.TemplateID)
	return printPolicy(stdout, t.Policy)
}

// printPolicy writes a template's policy as indented JSON, or says it has none.
func printPolicy(w io.Writer, p json.RawMessage) error {
	s := strings.TrimSpace(string(p))
	if s == "" || s == "null" || s == "{}" {
		fmt.Fprintln(w, "没有策略 / no policy")
		return nil
	}
	var v any
	if err := json.Unmarshal(p, &v); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
