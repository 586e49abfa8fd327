package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/vault"
	"github.com/wxfleet/wxfleet/wxcrypt"
)

const (
	testAppID  = "wxplatformtest01"
	testToken  = "push-token"
	testAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	testAdmin  = "admin-secret"
)

// boot runs a server on a fresh database of b's kind. WeChat's hosts point
// at a closed loopback port: nothing here calls WeChat but the start's
// request for a ticket, which fails and is logged.
func boot(t *testing.T, b storetest.Backend) *Server {
	t.Helper()
	return bootWith(t, b, func(*Config) {})
}

// bootWith is boot with the config changed by edit first.
func bootWith(t *testing.T, b storetest.Backend, edit func(*Config)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	cfg := Config{
		Addr: "127.0.0.1:0", Database: b.DSN(t), WeChatURL: "http://" + closed,
		AdminToken: testAdmin, MasterKey: vault.GenerateKey(),
		Platforms: []wxfleet.Platform{{AppID: testAppID, Name: "test", Token: testToken, AESKey: testAESKey, Secret: "s"}},
		Logger:    slog.New(slog.DiscardHandler),
	}
	edit(&cfg)
	srv, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func sendPush(t *testing.T, srv *Server, path, msg string) (int, string) {
	t.Helper()
	c, err := wxcrypt.New(testToken, testAESKey, testAppID)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	enc, sig, err := c.Seal([]byte(msg), ts, "42")
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"timestamp": {ts}, "nonce": {"42"}, "msg_signature": {sig}, "encrypt_type": {"aes"}}
	resp, err := http.Post(srv.URL()+path+"?"+q.Encode(), "text/xml", strings.NewReader(string(wxcrypt.ComponentEnvelope(testAppID, enc))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func getJSON(t *testing.T, srv *Server, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+testAdmin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// The wired server hands a ticket push to the token feature, and a code
// audit result, which no feature handles yet, is stored, acknowledged and
// readable at once through the events API.
func TestWiredServerDispatchesAndRecordsPushes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		srv := boot(t, b)
		ticket := `<xml><AppId><![CDATA[` + testAppID + `]]></AppId><CreateTime>` + strconv.FormatInt(time.Now().Unix(), 10) +
			`</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[ticket@@@x]]></ComponentVerifyTicket></xml>`
		if st, body := sendPush(t, srv, "/wechat/component", ticket); st != 200 || body != "success" {
			t.Fatalf("ticket push: %d %q", st, body)
		}
		var platforms struct {
			Items []struct {
				TicketValid bool `json:"ticket_valid"`
			} `json:"items"`
		}
		getJSON(t, srv, "/api/v1/platforms", &platforms)
		if len(platforms.Items) != 1 || !platforms.Items[0].TicketValid {
			t.Fatalf("after a ticket push: %+v", platforms)
		}

		audit := `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_system]]></FromUserName><CreateTime>1700000002</CreateTime>` +
			`<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[weapp_audit_success]]></Event><SuccTime>1700000002</SuccTime></xml>`
		if st, body := sendPush(t, srv, "/wechat/apps/wxminiapp", audit); st != 200 || body != "success" {
			t.Fatalf("audit push: %d %q", st, body)
		}
		var events struct {
			Items []struct {
				AppID   string `json:"appid"`
				Type    string `json:"type"`
				Payload string `json:"payload"`
			} `json:"items"`
		}
		getJSON(t, srv, "/api/v1/events?type=weapp_audit_success", &events)
		if len(events.Items) != 1 || events.Items[0].AppID != "wxminiapp" || !strings.Contains(events.Items[0].Payload, "<SuccTime>1700000002</SuccTime>") {
			t.Fatalf("events: %+v", events)
		}
	})
}
