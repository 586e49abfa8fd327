package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/configuration.md is what the settings table generates.
func TestConfigurationDocIsCurrent(t *testing.T) {
	got := repoFile(t, "docs/configuration.md")
	want := configDoc()
	if got == want {
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("docs/configuration.md differs from the settings table (cmd/wxfleet/settings.go) at line %d:\n  file:  %s\n  table: %s\n"+
				"regenerate it: go generate ./cmd/wxfleet  (or go run ./cmd/wxfleet config docs --out docs/configuration.md)", i+1, g, w)
		}
	}
}

// flagsInHelp are the flags a command's -h lists.
func flagsInHelp(t *testing.T, args ...string) []string {
	t.Helper()
	var out, errOut bytes.Buffer
	run(context.Background(), append(args, "-h"), strings.NewReader(""), &out, &errOut, func(string) (string, bool) { return "", false }, nil)
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`).FindAllStringSubmatch(errOut.String(), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("wxfleet %s -h listed no flags:\n%s%s", strings.Join(args, " "), out.String(), errOut.String())
	}
	slices.Sort(names)
	return names
}

// Every flag of every command is a row of the settings table, so the
// generated reference lists each one: a flag defined beside the table
// fails here. (rollout create's and crypt's operands are not settings.)
func TestEveryFlagIsInTheSettingTable(t *testing.T) {
	for _, cmd := range docCommands {
		args := []string{cmd}
		if cmd == "rollout" {
			args = []string{"rollout", "status"}
		}
		if cmd == "fleet-action" {
			args = []string{"fleet-action", "status"}
		}
		if cmd == "template" {
			args = []string{"template", "policy", "get"}
		}
		if cmd == "account" {
			args = []string{"account", "list"}
		}
		got := flagsInHelp(t, args...)
		var want []string
		for _, s := range settingTable {
			if s.Flag != "" && s.accepts(cmd) && !slices.Contains(want, s.Flag) {
				want = append(want, s.Flag)
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("wxfleet %s -h lists flags %v; the settings table gives it %v", cmd, got, want)
		}
	}
}

func TestSettingTableIsConsistent(t *testing.T) {
	type key struct{ cmd, name string }
	seen := map[key]bool{}
	byEnv := map[string]setting{}
	for i, s := range settingTable {
		if s.Flag == "" && s.Env == "" {
			t.Errorf("row %d has neither flag nor variable", i)
		}
		if s.ZH == "" || s.EN == "" || len(s.Commands) == 0 || !slices.Contains(docGroups, s.Group) {
			t.Errorf("row %d (%s%s): needs both meanings, its commands and a group of docGroups", i, s.Flag, s.Env)
		}
		if s.Test != strings.HasPrefix(s.Env, "TEST_") {
			t.Errorf("row %d (%s): WXFLEET_TEST_* and only they are Test rows", i, s.Env)
		}
		if s.Secret && s.Env != "" && !s.File {
			t.Errorf("WXFLEET_%s is secret: allow _FILE", s.Env)
		}
		if strings.HasSuffix(s.Env, "_FILE") {
			t.Errorf("WXFLEET_%s: _FILE is the File column, not a name", s.Env)
		}
		for _, c := range append(slices.Clone(s.Commands), s.Ignored...) {
			name := s.Flag
			if name == "" {
				name = s.Env
			}
			if seen[key{c, name}] {
				t.Errorf("%s has two rows for %s", c, name)
			}
			seen[key{c, name}] = true
		}
		if s.Env != "" {
			if o, ok := byEnv[s.Env]; ok && (o.File != s.File || o.Secret != s.Secret) {
				t.Errorf("WXFLEET_%s: its rows disagree on _FILE or secret", s.Env)
			}
			byEnv[s.Env] = s
		}
	}
}

// The flag wins over the variable, the variable (or its _FILE) over the
// default; both a variable and its _FILE is an error; a variable the table
// does not declare cannot be read.
func TestSettingPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rate")
	os.WriteFile(file, []byte(" 7\n"), 0o600)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"default", nil, nil, "20"},
		{"variable", map[string]string{"WXFLEET_ROLLOUT_RATE": "5"}, nil, "5"},
		{"file", map[string]string{"WXFLEET_ROLLOUT_RATE_FILE": file}, nil, "7"},
		{"flag over variable", map[string]string{"WXFLEET_ROLLOUT_RATE": "5"}, []string{"--rollout-rate", "3"}, "3"},
		{"flag equal to the default still wins", map[string]string{"WXFLEET_ROLLOUT_RATE": "5"}, []string{"--rollout-rate", "20"}, "20"},
	} {
		lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		c := newCmdSettings("serve", "serve", newEnv(lookup), &bytes.Buffer{})
		if err := c.fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got, err := c.get("rollout-rate"); err != nil || got != tc.want {
			t.Errorf("%s: rollout-rate = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	both := newEnv(func(k string) (string, bool) { return file, true })
	if _, err := both.get("ROLLOUT_RATE"); err == nil {
		t.Error("WXFLEET_ROLLOUT_RATE and its _FILE both set: accepted")
	}
	// Test knobs have no _FILE: the variable alone is read.
	onlyFile := newEnv(func(k string) (string, bool) {
		if k == "WXFLEET_TEST_WECHAT_TIMEOUT_FILE" {
			return file, true
		}
		return "", false
	})
	if v, err := onlyFile.get("TEST_WECHAT_TIMEOUT"); err != nil || v != "" {
		t.Errorf("WXFLEET_TEST_WECHAT_TIMEOUT_FILE was read: %q, %v", v, err)
	}
	if err := checkUnknown([]string{"WXFLEET_ADMIN_TOKEN_FILE=/x", "WXFLEET_TEST_ANYTHING=1"}); err != nil {
		t.Errorf("known variables refused: %v", err)
	}
	if err := checkUnknown([]string{"WXFLEET_NOPE=1"}); err == nil || !strings.Contains(err.Error(), "docs/configuration.md") {
		t.Errorf("unknown variable: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("reading an undeclared variable did not panic")
		}
	}()
	newEnv(func(string) (string, bool) { return "", false }).get("NOT_IN_THE_TABLE")
}
