package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/server"
	"github.com/wxfleet/wxfleet/store/storetest"
)

// postgresDSN gives a DSN for a fresh schema of WXFLEET_TEST_POSTGRES, or
// skips, saying so.
func postgresDSN(t *testing.T) string {
	t.Helper()
	return storetest.Postgres(storetest.PostgresDSN(t)).DSN(t)
}

// Two `wxfleet serve` instances share one PostgreSQL database. When WeChat
// rejects the token on both at once, the lease lets one refresh it; had both
// refreshed, the second would have presented a rotated-away refresh token and
// lost the authorization (61023).
func TestTwoInstancesOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	key := make([]byte, 32)
	rand.Read(key)
	a := bootDemoWith(t, func(o *demoOptions) { o.Database, o.MasterKey = dsn, key })

	b, err := server.New(context.Background(), server.Config{
		Addr: "127.0.0.1:0", Database: dsn, WeChatURL: a.SandboxURL, AdminToken: wxfleet.Secret(a.AdminToken),
		MasterKey: key, Platforms: []wxfleet.Platform{demoPlatform}, JobPollInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)).With("instance", "b"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	bd := &testDemo{demo: &demo{Platform: b, SandboxURL: a.SandboxURL, AdminToken: a.AdminToken}, t: t}

	apps := a.miniPrograms()
	var link struct {
		PCURL string `json:"pc_url"`
	}
	// The link is made on B, the merchant comes back to A: one database.
	if st := bd.api("POST", "/api/v1/authorization-links", map[string]any{"merchant": "pg-merchant"}, &link); st != 201 {
		t.Fatalf("link on B: %d", st)
	}
	var redir struct {
		RedirectURL string `json:"redirect_url"`
	}
	a.sandbox("POST", "/sandbox/api/authorize", map[string]any{"url": link.PCURL, "appid": apps[0].AppID}, &redir)
	a.eventually("authorized", func() bool {
		au, st := bd.authorizer(apps[0].AppID)
		return st == 200 && au.Status == "authorized" && au.Merchant == "pg-merchant"
	})

	a.sandbox("POST", "/sandbox/api/clock", map[string]any{"advance": "2h5m"}, nil)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	answers := make([]string, 2)
	for i, inst := range []*testDemo{a, bd} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sent map[string]any
			st := inst.api("POST", "/api/v1/authorizers/"+apps[0].AppID+"/wechat/cgi-bin/message/custom/send",
				map[string]any{"touser": "o-nobody", "msgtype": "text", "text": map[string]string{"content": "hi"}}, &sent)
			if c, ok := sent["errcode"].(float64); ok {
				codes[i] = int(c)
			}
			answers[i] = fmt.Sprintf("%d %v", st, sent)
		}()
	}
	wg.Wait()
	if codes[0] != 40003 || codes[1] != 40003 {
		t.Fatalf("errcodes after concurrent refresh: %v (want WeChat's 40003 for the unknown openid on both); answers: %q", codes, answers)
	}
	au, _ := bd.authorizer(apps[0].AppID)
	if au.Status != "authorized" {
		t.Fatalf("after concurrent refresh the authorizer is %s", au.Status)
	}
}
