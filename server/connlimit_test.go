package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/store/storetest"
)

// shortLimits are the HTTP limits of these tests: seconds, not minutes.
func shortLimits(cfg *Config) {
	cfg.HTTP = HTTPLimits{ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, IdleTimeout: time.Second, MaxConnections: 20}
}

func dial(t *testing.T, srv *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server ends c (EOF or reset) before
// the deadline; bytes it sends first (an error answer) are read past.
func closedByServer(c net.Conn, within time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

// An idle keep-alive connection is closed by the server, and so is one that
// trickles its body: neither holds a file descriptor for long.
func TestIdleAndTricklingConnectionsAreClosed(t *testing.T) {
	srv := bootWith(t, storetest.SQLite, shortLimits)

	idle := dial(t, srv)
	fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("server did not keep the connection alive: nothing to test")
	}
	if !closedByServer(idle, 15*time.Second) {
		t.Error("an idle keep-alive connection stayed open 15 s past a 1 s IdleTimeout")
	}

	trickle := dial(t, srv)
	fmt.Fprintf(trickle, "POST /wechat/component?timestamp=%d&nonce=1&msg_signature=x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", time.Now().Unix())
	done := make(chan bool, 1)
	go func() { done <- closedByServer(trickle, 15*time.Second) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case ended := <-done:
			if !ended {
				t.Error("a body trickled 10 bytes a second was still being read after 15 s (ReadTimeout 2 s)")
			}
			return
		case <-tick.C:
			trickle.Write([]byte("x")) // errors once the server closed: fine
		}
	}
}

// A 1 MB header is refused (431), not buffered.
func TestHugeHeaderRefused(t *testing.T) {
	srv := bootWith(t, storetest.SQLite, func(*Config) {})
	req, _ := http.NewRequest("GET", srv.URL()+"/healthz", nil)
	req.Header.Set("X-Pad", strings.Repeat("a", 1<<20))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("1 MB header: %d, want 431", resp.StatusCode)
	}
}

// Many idle and trickling connections cannot keep a push out: past the cap
// the longest-waiting ones are closed, and the push URL still answers.
func TestConnectionFloodLeavesRoomForPushes(t *testing.T) {
	srv := bootWith(t, storetest.SQLite, func(cfg *Config) {
		shortLimits(cfg)
		// Long timeouts: the flood must be pushed out by the cap, not by time.
		cfg.HTTP.IdleTimeout, cfg.HTTP.ReadHeaderTimeout, cfg.HTTP.ReadTimeout = time.Minute, time.Minute, time.Minute
	})
	var flood []net.Conn
	for i := range 150 {
		c := dial(t, srv)
		if i%3 == 0 { // a third trickle headers, the rest say nothing
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		}
		flood = append(flood, c)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	ticket := `<xml><AppId><![CDATA[` + testAppID + `]]></AppId><CreateTime>` + ts +
		`</CreateTime><InfoType><![CDATA[component_verify_ticket]]></InfoType><ComponentVerifyTicket><![CDATA[ticket@@@flood]]></ComponentVerifyTicket></xml>`
	if st, body := sendPush(t, srv, "/wechat/component", ticket); st != 200 || body != "success" {
		t.Fatalf("push during the flood: %d %q", st, body)
	}
	if n := srv.conns.open(); n > 20 {
		t.Errorf("%d connections open, cap 20", n)
	}
	// The oldest of the flood were the ones closed.
	if !closedByServer(flood[0], 3*time.Second) || !closedByServer(flood[1], 3*time.Second) {
		t.Error("the first idle connections of the flood are still open past the cap")
	}
}
