package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/server"
)

// The rollout benchmark runs the platform in a process of its own, so that
// its peak RSS is the platform's alone (the sandbox, playing WeChat, stays in
// wxload's process). The child is this binary with the hidden command
// "rollout-platform"; it reads its configuration as one JSON line on stdin,
// prints its URL, and stops when stdin closes — also when wxload dies.

// childConfig is what the platform process is given on stdin (secrets
// included: stdin, not argv, so they stay out of the process list).
type childConfig struct {
	Database   string             `json:"database"`
	WeChatURL  string             `json:"wechat_url"`
	AdminToken string             `json:"admin_token"`
	MasterKey  []byte             `json:"master_key"`
	Creds      Credentials        `json:"creds"`
	Secret     string             `json:"secret"`
	Rate       float64            `json:"rate"`
	APIRates   map[string]float64 `json:"api_rates,omitempty"`
	Workers    int                `json:"workers"`
	AuditPoll  time.Duration      `json:"audit_poll"`
}

const childReady = "wxload rollout-platform serving "

// runRolloutPlatform is the child's side.
func runRolloutPlatform(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	in := bufio.NewReader(stdin)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("rollout-platform: reading the configuration: %w", err)
	}
	var c childConfig
	if err := json.Unmarshal(line, &c); err != nil {
		return fmt.Errorf("rollout-platform: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("side", "platform")
	srv, err := server.New(ctx, server.Config{
		Addr: "127.0.0.1:0", Database: c.Database, WeChatURL: c.WeChatURL,
		AdminToken: wxfleet.Secret(c.AdminToken), MasterKey: c.MasterKey,
		Platforms: []wxfleet.Platform{{AppID: c.Creds.ComponentAppID, Name: "wxload", Token: wxfleet.Secret(c.Creds.Token),
			AESKey: wxfleet.Secret(c.Creds.AESKey), Secret: wxfleet.Secret(c.Secret)}},
		RolloutRate: c.Rate, RolloutAPIRates: c.APIRates, RolloutWorkers: c.Workers, AuditPollInterval: c.AuditPoll,
		Logger: logger,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := srv.Listen(); err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, childReady+srv.URL())
	stopped := make(chan struct{})
	go func() { io.Copy(io.Discard, in); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
	}
	return nil
}

// platformProcess is the running child.
type platformProcess struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	URL     string
	exited  chan struct{}
	waitErr error
}

// startPlatformProcess starts the child with c and waits for its URL.
func startPlatformProcess(ctx context.Context, c childConfig, stderr io.Writer) (*platformProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "rollout-platform")
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &platformProcess{cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	line, _ := json.Marshal(c)
	if _, err := stdin.Write(append(line, '\n')); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	urls := make(chan string, 1)
	var once sync.Once
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), childReady); ok {
				once.Do(func() { urls <- u })
			}
		}
	}()
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	select {
	case p.URL = <-urls:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("the platform process exited before serving: %v", p.waitErr)
	case <-time.After(2 * time.Minute):
	case <-ctx.Done():
	}
	p.Stop()
	return nil, errors.New("the platform process did not start serving")
}

// Stop closes the child's stdin and waits for it to exit (killing it after
// 30 s); it returns the child's peak RSS in bytes, 0 when unknown.
func (p *platformProcess) Stop() int64 {
	p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	return peakRSS(p.cmd.ProcessState)
}
