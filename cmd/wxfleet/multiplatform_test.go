package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/sandbox"
	"github.com/wxfleet/wxfleet/server"
)

// Two legal entities, two third-party platforms, one installation: every
// record belongs to its platform and pushes find theirs.
func TestSeveralPlatformsInOneInstallation(t *testing.T) {
	platforms := []wxfleet.Platform{
		{AppID: "wxaaaa000000000001", Name: "甲公司平台", Secret: "secret-a", Token: "token-a", AESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"},
		{AppID: "wxbbbb000000000002", Name: "乙公司平台", Secret: "secret-b", Token: "token-b", AESKey: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"},
	}
	key := make([]byte, 32)
	rand.Read(key)
	data := t.TempDir()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	sbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sbURL := "http://" + sbLn.Addr().String()
	ctx := context.Background()
	srv, err := server.New(ctx, server.Config{
		Addr: "127.0.0.1:0", Database: filepath.Join(data, "wxfleet.db"), WeChatURL: sbURL, AdminToken: "admin",
		MasterKey: key, Platforms: platforms, JobPollInterval: 50 * time.Millisecond, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	var comps []sandbox.Component
	for _, p := range platforms {
		comps = append(comps, sandbox.Component{AppID: p.AppID, Secret: p.Secret.Reveal(), Token: p.Token.Reveal(), AESKey: p.AESKey.Reveal(), Name: p.Name})
	}
	sb, err := sandbox.New(sandbox.Config{DataDir: filepath.Join(data, "sandbox"), PublicURL: sbURL, PlatformURL: srv.URL(), Components: comps, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: sb.Handler()}
	go hs.Serve(sbLn)
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Close(); srv.Close(); sb.Close() })
	d := &testDemo{demo: &demo{Platform: srv, SandboxURL: sbURL, AdminToken: "admin"}, t: t}

	// Both platforms ask for and get their own ticket.
	d.eventually("tickets for both platforms", func() bool {
		var out struct {
			Items []struct {
				TicketValid bool `json:"ticket_valid"`
			} `json:"items"`
		}
		d.api("GET", "/api/v1/platforms", nil, &out)
		return len(out.Items) == 2 && out.Items[0].TicketValid && out.Items[1].TicketValid
	})

	app := d.miniPrograms()[0]
	var link struct {
		PCURL string `json:"pc_url"`
	}
	if st := d.api("POST", "/api/v1/authorization-links", map[string]any{"platform": platforms[1].AppID}, &link); st != 201 {
		t.Fatalf("link for platform B: %d", st)
	}
	var redir struct {
		RedirectURL string `json:"redirect_url"`
	}
	if st := d.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": app.AppID}, &redir); st != 200 {
		t.Fatalf("authorize to B: %d", st)
	}
	d.eventually("authorized under B", func() bool {
		var a apiAuthorizer
		return d.api("GET", "/api/v1/authorizers/"+app.AppID+"?platform="+platforms[1].AppID, nil, &a) == 200 && a.Status == "authorized"
	})
	// Under A it does not exist.
	if st := d.api("GET", "/api/v1/authorizers/"+app.AppID, nil, &struct{}{}); st != 404 {
		t.Fatalf("authorizer of B visible under A: %d", st)
	}
	var listA struct {
		Total int `json:"total"`
	}
	d.api("GET", "/api/v1/authorizers?platform="+platforms[0].AppID, nil, &listA)
	if listA.Total != 0 {
		t.Fatalf("platform A lists %d authorizers", listA.Total)
	}

	// A user message pushed with B's keys is stored under B only.
	var sent struct {
		Status int    `json:"status"`
		Reply  string `json:"reply"`
	}
	d.sandbox("POST", "/sandbox/api/apps/"+app.AppID+"/messages", map[string]any{"content": "在吗？", "component_appid": platforms[1].AppID}, &sent)
	if sent.Status != 200 || sent.Reply != "success" {
		t.Fatalf("message to B: %+v", sent)
	}
	var evB, evA struct {
		Total int `json:"total"`
	}
	d.api("GET", "/api/v1/events?type=text&platform="+platforms[1].AppID, nil, &evB)
	d.api("GET", "/api/v1/events?type=text&platform="+platforms[0].AppID, nil, &evA)
	if evB.Total != 1 || evA.Total != 0 {
		t.Fatalf("text events: B %d, A %d", evB.Total, evA.Total)
	}
}
