package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/wxcrypt"
)

// pushLoad sends signed, encrypted user messages to a platform from several
// connections, as WeChat would, and remembers which it acknowledged.
type pushLoad struct {
	t      *testing.T
	mu     sync.Mutex
	acked  map[int64]bool // MsgId → acknowledged with "success"
	nAcked atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
}

// startPushLoad begins sending to baseURL/wechat/apps/appID with the
// platform's token, key and appid; base numbers the MsgIds.
func startPushLoad(t *testing.T, baseURL, token, aesKey, componentAppID, appID string, conns int, base int64) *pushLoad {
	t.Helper()
	crypter, err := wxcrypt.New(token, aesKey, componentAppID)
	if err != nil {
		t.Fatal(err)
	}
	l := &pushLoad{t: t, acked: map[int64]bool{}, stop: make(chan struct{})}
	var next atomic.Int64
	client := &http.Client{Timeout: 5 * time.Second}
	for range conns {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				id := base + next.Add(1)
				now := time.Now().Unix()
				plain := fmt.Sprintf("<xml><ToUserName><![CDATA[gh_load]]></ToUserName><FromUserName><![CDATA[o_user%d]]></FromUserName>"+
					"<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[第 %d 条消息]]></Content><MsgId>%d</MsgId></xml>",
					id%7, now, id, id)
				ts, nonce := strconv.FormatInt(now, 10), strconv.FormatInt(id, 10)
				enc, sig, err := crypter.Seal([]byte(plain), ts, nonce)
				if err != nil {
					t.Error(err)
					return
				}
				q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "msg_signature": {sig}, "encrypt_type": {"aes"}, "openid": {"o_user"}}
				resp, err := client.Post(baseURL+"/wechat/apps/"+appID+"?"+q.Encode(), "text/xml", strings.NewReader(string(wxcrypt.MessageEnvelope("gh_load", enc))))
				if err != nil {
					continue // refused or cut off: never acknowledged
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && string(body) == "success" {
					l.mu.Lock()
					l.acked[id] = true
					l.mu.Unlock()
					l.nAcked.Add(1)
				}
			}
		}()
	}
	return l
}

// waitAcked waits until n pushes were acknowledged.
func (l *pushLoad) waitAcked(n int64) {
	l.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.nAcked.Load() < n {
		if time.Now().After(deadline) {
			l.t.Fatalf("only %d pushes acknowledged in 30 s, want %d", l.nAcked.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// snapshot returns the MsgIds acknowledged so far.
func (l *pushLoad) snapshot() map[int64]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int64]bool, len(l.acked))
	for k := range l.acked {
		out[k] = true
	}
	return out
}

// halt stops sending and waits for the senders.
func (l *pushLoad) halt() {
	close(l.stop)
	l.wg.Wait()
}

// storedMsgIDs reads every stored text message of the platform at baseURL
// through the API and returns their MsgIds, failing on a duplicate.
func storedMsgIDs(t *testing.T, baseURL, adminToken string) map[int64]bool {
	t.Helper()
	stored := map[int64]bool{}
	msgID := regexp.MustCompile(`<MsgId>(\d+)</MsgId>`)
	cursor := ""
	for {
		req, _ := http.NewRequest("GET", baseURL+"/api/v1/events?type=text&limit=500"+cursor, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []struct {
				Payload string `json:"payload"`
			} `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			m := msgID.FindStringSubmatch(it.Payload)
			if m == nil {
				t.Fatalf("stored payload without MsgId: %q", it.Payload)
			}
			id, _ := strconv.ParseInt(m[1], 10, 64)
			if stored[id] {
				t.Fatalf("MsgId %d stored twice", id)
			}
			stored[id] = true
		}
		if page.NextCursor == "" {
			return stored
		}
		cursor = "&cursor=" + page.NextCursor
	}
}

// missing counts the acknowledged MsgIds not stored.
func missing(acked, stored map[int64]bool) int {
	n := 0
	for id := range acked {
		if !stored[id] {
			n++
		}
	}
	return n
}

// journalBacklog reads the platform's ingest journal backlog from /metrics
// (-1 if absent), with the admin token /metrics takes.
func journalBacklog(baseURL, adminToken string) float64 {
	req, _ := http.NewRequest("GET", baseURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^wxfleet_ingest_journal_backlog ([0-9.e+]+)$`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
