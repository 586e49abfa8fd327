package server

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimit caps the connections the HTTP server holds open. Without it
// ~20,000 idle keep-alive connections used up the process's file descriptors
// and WeChat's pushes found the door shut.
//
// At the cap a new connection is not turned away at once: the connection
// that has waited longest without a request in progress (idle between
// requests, or still sending its first headers) is closed to make room. So a
// flood of idle or trickling connections pushes out its own oldest members,
// while a push that arrives in the middle gets in and is served. Only when
// every connection is busy with a request is the newcomer closed.
type connLimit struct {
	net.Listener
	max    int
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	conns   map[net.Conn]*connInfo
	evicted int       // since the last log line
	refused int       // since the last log line
	logged  time.Time // when the last log line was written
}

type connInfo struct {
	state http.ConnState
	since time.Time
}

// connLogEvery spaces the limit's log lines: one per burst, not one per connection.
const connLogEvery = 10 * time.Second

func newConnLimit(ln net.Listener, max int, now func() time.Time, logger *slog.Logger) *connLimit {
	return &connLimit{Listener: ln, max: max, now: now, logger: logger, conns: map[net.Conn]*connInfo{}}
}

// Accept returns the next connection, making room for it at the cap.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, l: l}
		if l.admit(tc) {
			return tc, nil
		}
		c.Close()
	}
}

// admit records c, closing the longest-waiting connection that has no
// request in progress when the cap is reached; false: there is none, c must go.
func (l *connLimit) admit(c net.Conn) bool {
	l.mu.Lock()
	now := l.now()
	var victim net.Conn
	ok := true
	if len(l.conns) >= l.max {
		var oldest time.Time
		for vc, info := range l.conns {
			if info.state != http.StateIdle && info.state != http.StateNew {
				continue
			}
			if victim == nil || info.since.Before(oldest) {
				victim, oldest = vc, info.since
			}
		}
		if victim != nil {
			delete(l.conns, victim)
			l.evicted++
		} else {
			ok = false
			l.refused++
		}
	}
	if ok {
		l.conns[c] = &connInfo{state: http.StateNew, since: now}
	}
	var evicted, refused int
	if (l.evicted > 0 || l.refused > 0) && now.Sub(l.logged) >= connLogEvery {
		evicted, refused, l.logged = l.evicted, l.refused, now
		l.evicted, l.refused = 0, 0
	}
	open := len(l.conns)
	l.mu.Unlock()
	if victim != nil {
		victim.(*trackedConn).Conn.Close()
	}
	if evicted > 0 || refused > 0 {
		l.logger.Warn("connection limit reached: closing the longest-waiting idle connections to make room (WXFLEET_MAX_CONNECTIONS)",
			"limit", l.max, "open", open, "closed_idle", evicted, "refused_busy", refused, "since", connLogEvery)
	}
	return ok
}

// track is the HTTP server's ConnState hook: it follows each connection
// between idle and busy, and forgets it once closed.
func (l *connLimit) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	default:
		if info, ok := l.conns[c]; ok {
			info.state, info.since = state, l.now()
		}
	}
}

// open is how many connections are held now.
func (l *connLimit) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// trackedConn leaves the tracking table when closed, whoever closes it.
type trackedConn struct {
	net.Conn
	l    *connLimit
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return err
}
