package sandbox

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The messaging capabilities (customer service 客服 and subscribe messages
// 订阅消息, docs/wechat-capabilities.md) keep their own state, apart from the
// core state and the code state: per mini program its temporary media, its
// added subscribe templates, its users' consents, typing states and the log
// of what its users sent and received. It lives in memory, guarded by
// capState.mu (never held together with Sandbox.mu or codeState.mu), and
// every change is written to {DataDir}/sandbox-caps.db in one small
// transaction before the API answers, as the code state is.
//
// The 48-hour reply window is the core state's user book (appUsers.Seen):
// message/custom/send has always checked it there.

const capsDBFile = "sandbox-caps.db"

// Limits and lifetimes of the capabilities, as WeChat documents them
// (docs/wechat-capabilities.md); where WeChat says nothing firm, the choice
// is named there.
const (
	mediaTTL        = 72 * time.Hour // a temporary media_id works 3 days
	mediaImageLimit = 10 << 20       // image upload: 10 MB
	typingTTL       = 20 * time.Second
	typingRecent    = 30 * time.Second // Typing needs a message with the user this recently (45080)
	subTemplateMax  = 25               // added subscribe templates per mini program (200012)
	userLogLimit    = 500              // log entries kept per mini program
)

// media is an uploaded temporary media file; the bytes are not kept.
type media struct {
	Type      string    `json:"type"`
	Size      int       `json:"size"`
	Mime      string    `json:"mime"`
	CreatedAt time.Time `json:"created_at"`
}

// subTemplate is a subscribe template added to a mini program (its private
// template, priTmplId) from the public library.
type subTemplate struct {
	ID        string    `json:"priTmplId"`
	TID       int       `json:"tid"`
	KIDs      []int     `json:"kid_list"`
	SceneDesc string    `json:"scene_desc"`
	CreatedAt time.Time `json:"created_at"`
}

// consent is one user's subscription to one template: one-time templates
// count the sends the user's accepts granted; long-term ones are on or off.
type consent struct {
	Remaining int  `json:"remaining"`
	LongTerm  bool `json:"long_term,omitempty"`
	// Off: the user set the template to 拒收 in the mini program's settings
	// (subscribe_msg_change_event); sends get 43101 and the popup's accepts
	// count as refusals until they set it back.
	Off bool `json:"off,omitempty"`
}

// userLogEntry is one message between a mini program and one of its users.
type userLogEntry struct {
	Seq       int64           `json:"seq"`
	Direction string          `json:"direction"` // "in": the user sent it; "out": the user received it
	Via       string          `json:"via"`       // user, custom_send, subscribe_send, subscribe_popup, subscribe_settings
	OpenID    string          `json:"openid"`
	MsgType   string          `json:"msgtype"`
	Content   string          `json:"content"`
	Body      json.RawMessage `json:"body,omitempty"`
	At        time.Time       `json:"at"`
}

// appCaps is the capability state of one mini program.
type appCaps struct {
	AppID     string               `json:"appid"`
	Media     map[string]media     `json:"media"`
	Templates []*subTemplate       `json:"templates"`
	Consents  map[string]*consent  `json:"consents"` // openid + " " + priTmplId
	Typing    map[string]time.Time `json:"typing"`   // openid → Typing since
	LastOut   map[string]time.Time `json:"last_out"` // openid → last message the user received
	Log       []userLogEntry       `json:"log"`
}

// capMeta is the sandbox-wide part of the capability state.
type capMeta struct {
	NextSeq  int64 `json:"next_seq"`
	NextMsg  int64 `json:"next_msg"`
	NextTmpl int64 `json:"next_tmpl"`
}

// capState is the capability state and its database.
type capState struct {
	s  *Sandbox
	db *sql.DB

	mu    sync.Mutex // guards everything below; never held with Sandbox.mu or codeState.mu
	meta  capMeta
	apps  map[string]*appCaps
	dirty map[string]bool // appids; "" is the meta row
}

// startCaps opens and loads the capability database.
func (s *Sandbox) startCaps() error {
	path := filepath.Join(s.cfg.DataDir, capsDBFile)
	db, err := sql.Open("sqlite", "file:"+path+"?"+codeDBParams)
	if err != nil {
		return fmt.Errorf("sandbox: opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	cs := &capState{s: s, db: db, apps: map[string]*appCaps{}, dirty: map[string]bool{},
		meta: capMeta{NextSeq: 1, NextMsg: 2_000_000_000_000_000_000 + randomInt(1_000_000_000), NextTmpl: 1}}
	if err := cs.load(); err != nil {
		db.Close()
		return fmt.Errorf("sandbox: %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return err
	}
	s.caps = cs
	return nil
}

func (s *Sandbox) closeCaps() error {
	if s.caps == nil {
		return nil
	}
	return s.caps.db.Close()
}

func (cs *capState) load() error {
	if _, err := cs.db.Exec(`CREATE TABLE IF NOT EXISTS caps_state (id TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID`); err != nil {
		return err
	}
	rows, err := cs.db.Query(`SELECT id, data FROM caps_state`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			return err
		}
		if id == "" {
			if err := json.Unmarshal([]byte(data), &cs.meta); err != nil {
				return fmt.Errorf("meta row: %w", err)
			}
			continue
		}
		a := &appCaps{}
		if err := json.Unmarshal([]byte(data), a); err != nil {
			return fmt.Errorf("row %s: %w", id, err)
		}
		a.init()
		cs.apps[a.AppID] = a
	}
	return rows.Err()
}

func (a *appCaps) init() {
	if a.Media == nil {
		a.Media = map[string]media{}
	}
	if a.Consents == nil {
		a.Consents = map[string]*consent{}
	}
	if a.Typing == nil {
		a.Typing = map[string]time.Time{}
	}
	if a.LastOut == nil {
		a.LastOut = map[string]time.Time{}
	}
}

// app returns a mini program's capability state, creating it on first use,
// and marks it changed. Callers hold cs.mu.
func (cs *capState) app(appid string) *appCaps {
	a := cs.apps[appid]
	if a == nil {
		a = &appCaps{AppID: appid}
		a.init()
		cs.apps[appid] = a
	}
	cs.dirty[appid] = true
	return a
}

// peek returns a mini program's state without creating or marking it; nil
// when it has none. Callers hold cs.mu.
func (cs *capState) peek(appid string) *appCaps { return cs.apps[appid] }

// appendLog adds an entry to a mini program's user log. Callers hold cs.mu.
func (cs *capState) appendLog(appid string, e userLogEntry) {
	a := cs.app(appid)
	e.Seq = cs.meta.NextSeq
	cs.meta.NextSeq++
	cs.dirty[""] = true
	a.Log = append(a.Log, e)
	if n := len(a.Log) - userLogLimit; n > 0 {
		a.Log = slices.Delete(a.Log, 0, n)
	}
}

// flush writes the changed rows in one transaction and reports -1 (WeChat's
// system error) when that failed. Callers hold cs.mu.
func (cs *capState) flush() int {
	if len(cs.dirty) == 0 {
		return 0
	}
	err := cs.write()
	clear(cs.dirty)
	if err != nil {
		cs.s.log.Error("writing the capability state", "err", err)
		return -1
	}
	return 0
}

func (cs *capState) write() error {
	tx, err := cs.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for id := range cs.dirty {
		var v any = &cs.meta
		if id != "" {
			a := cs.apps[id]
			if a == nil {
				if _, err := tx.Exec(`DELETE FROM caps_state WHERE id = $1`, id); err != nil {
					return err
				}
				continue
			}
			v = a
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO caps_state (id, data) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET data = excluded.data`, id, string(data)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// now is the sandbox clock.
func (cs *capState) now() time.Time { return cs.s.now() }
