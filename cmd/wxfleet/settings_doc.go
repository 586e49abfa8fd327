package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// docCommands are the commands docs/configuration.md lists, in order.
var docCommands = []string{"serve", "demo", "sandbox", "migrate", "backup", "restore", "rotate-key", "rollout", "fleet-action", "template", "account", "healthcheck"}

// runConfig is `wxfleet config docs [--out FILE]`: docs/configuration.md
// from settingTable (go generate ./cmd/wxfleet runs it).
func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "docs" {
		fmt.Fprintln(stderr, "usage: wxfleet config docs [--out FILE]   print docs/configuration.md from the settings table")
		return errUsage
	}
	fs := flag.NewFlagSet("config docs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write to this file instead of stdout")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("config docs: unexpected argument %q", fs.Arg(0))
	}
	doc := configDoc()
	if *out == "" {
		_, err := io.WriteString(stdout, doc)
		return err
	}
	return os.WriteFile(*out, []byte(doc), 0o644)
}

// mdCell keeps a table cell's text from breaking the Markdown table.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "\n", " ").Replace(s)
}

func code(s string) string { return "`" + s + "`" }

// configDoc renders settingTable as Markdown.
func configDoc() string {
	var b bytes.Buffer
	b.WriteString(`<!-- 由 cmd/wxfleet/settings.go 的设置表生成，请勿手改 / GENERATED from the settings table in cmd/wxfleet/settings.go: do not edit.
     重新生成 / regenerate: go generate ./cmd/wxfleet -->
# 配置参考 / Configuration reference

每个设置可以是命令行参数、环境变量 ` + "`WXFLEET_*`" + `，或两者都有。**参数优先，其次环境变量，最后是默认值。**
标有 ` + "`_FILE`" + ` 的变量也可以写成 ` + "`WXFLEET_名字_FILE=/path`" + `，从该文件读取值（去掉首尾空白），适合 Docker/Kubernetes 的 secret 与
systemd 的 ` + "`LoadCredential=`" + `；同时设置值和 ` + "`_FILE`" + ` 会报错。环境中出现未知的 ` + "`WXFLEET_*`" + ` 变量时命令拒绝启动并列出已知的名字
（拼错不会悄悄落回默认值）；` + "`WXFLEET_TEST_*`" + ` 留给测试。标为 **秘密** 的值从不写进日志，宜用 ` + "`_FILE`" + ` 提供。
多个第三方平台用 ` + "`--platforms FILE`" + `，格式见 ` + "`deploy/platforms.example.json`" + `。

*Every setting is a command-line flag, a ` + "`WXFLEET_*`" + ` environment variable, or both. **The flag wins, then the
variable, then the default.** A variable marked ` + "`_FILE`" + ` may instead be given as ` + "`WXFLEET_NAME_FILE=/path`" + `: the value is
read from that file (trimmed), for Docker/Kubernetes secrets and systemd's ` + "`LoadCredential=`" + `; setting both is an
error. An unknown ` + "`WXFLEET_*`" + ` variable in the environment stops the command, naming the known ones (a typo never
falls back to a default silently); ` + "`WXFLEET_TEST_*`" + ` belong to the tests. Values marked **secret** are never logged;
give them by file. Several third-party platforms: ` + "`--platforms FILE`" + `, format in ` + "`deploy/platforms.example.json`" + `.*

## 新增设置 / Adding a setting

一处修改：在 ` + "`cmd/wxfleet/settings.go`" + ` 的 ` + "`settingTable`" + ` 中加一行（参数名、变量名、是否允许 ` + "`_FILE`" + `、默认值、读取它的命令、
中英文说明、是否秘密），命令用 ` + "`c.get(\"参数名\")`" + `（只有变量时 ` + "`c.get(\"变量名\")`" + `）读取——参数由表生成，未知变量检查也用这张表；
然后运行 ` + "`go generate ./cmd/wxfleet`" + ` 重新生成本文件。本文件与表不符时 ` + "`TestConfigurationDocIsCurrent`" + ` 失败；
命令里另行定义的参数会让 ` + "`TestEveryFlagIsInTheSettingTable`" + ` 失败。

*One place: add a row to ` + "`settingTable`" + ` in ` + "`cmd/wxfleet/settings.go`" + ` (flag, variable, ` + "`_FILE`" + ` allowed, default, the
commands reading it, meaning in Chinese and English, secret or not) and read it with ` + "`c.get(\"flag-name\")`" + ` (or
` + "`c.get(\"VARIABLE\")`" + ` for a variable-only one): the flags are built from the table and the unknown-variable check uses it.
Then run ` + "`go generate ./cmd/wxfleet`" + ` to regenerate this file. ` + "`TestConfigurationDocIsCurrent`" + ` fails while this file
and the table differ; a flag a command defines outside the table fails ` + "`TestEveryFlagIsInTheSettingTable`" + `.*
`)
	for _, g := range docGroups {
		fmt.Fprintf(&b, "\n## %s\n\n", g)
		if g == groupTest {
			b.WriteString("测试把 `wxfleet serve` 作为子进程运行时用这些变量缩短等待；不设即为生产值，运维无需设置。只读取变量本身（无 `_FILE`）。\n" +
				"*The tests set these to make `wxfleet serve` as a subprocess quick; unset, the production values apply. Operators leave them alone. No `_FILE`.*\n\n")
		}
		b.WriteString("| 参数 Flag | 环境变量 Variable | 默认 Default | 命令 Commands | 说明 Meaning |\n|---|---|---|---|---|\n")
		for _, s := range settingTable {
			if s.Group != g {
				continue
			}
			flagCell, envCell := "—", "—"
			if s.Flag != "" {
				flagCell = code("--" + s.Flag)
			}
			if s.Env != "" {
				envCell = code("WXFLEET_" + s.Env)
				if s.File {
					envCell += " · " + code("_FILE")
				}
			}
			def := "—"
			switch {
			case s.DefaultDoc != "":
				def = mdCell(s.DefaultDoc)
			case s.Bool:
				def = "false"
			case s.Default != "":
				def = code(s.Default)
			}
			cmds := strings.Join(s.Commands, ", ")
			if len(s.Ignored) > 0 {
				cmds += " (" + strings.Join(s.Ignored, ", ") + ": 接受但忽略 / accepted, ignored)"
			}
			meaning := mdCell(s.ZH) + " / " + mdCell(s.EN)
			if s.Secret {
				meaning = "**秘密 / secret.** " + meaning
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", flagCell, envCell, def, cmds, meaning)
		}
	}
	b.WriteString("\n## 按命令 / By command\n\n")
	b.WriteString("`crypt` 与 `rollout create` 等的其余参数是操作参数，不是设置：见 `wxfleet crypt`、`wxfleet rollout -h`。\n" +
		"*The other arguments of `crypt` and `rollout create` etc. are operands, not settings: see `wxfleet crypt`, `wxfleet rollout -h`.*\n\n")
	b.WriteString("| 命令 Command | 参数 Flags | 环境变量 Variables |\n|---|---|---|\n")
	for _, cmd := range docCommands {
		var flags, vars []string
		for _, s := range settingTable {
			if !s.accepts(cmd) || s.Test {
				continue
			}
			if s.Flag != "" && !slices.Contains(flags, code("--"+s.Flag)) {
				flags = append(flags, code("--"+s.Flag))
			}
			if s.Env != "" && slices.Contains(s.Commands, cmd) && !slices.Contains(vars, code("WXFLEET_"+s.Env)) {
				vars = append(vars, code("WXFLEET_"+s.Env))
			}
		}
		fmt.Fprintf(&b, "| `wxfleet %s` | %s | %s |\n", cmd, orDash(strings.Join(flags, " ")), orDash(strings.Join(vars, " ")))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
