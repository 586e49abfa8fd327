package messaging

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/store"
)

// Filing the users' pushes into conversations and consents stays off the
// acknowledgement path: that path is kept free of database waits (README,
// Performance), and a push is durable once the receiver recorded it. The
// push handlers only hand the push to the filer, which writes what arrives
// in shared transactions on a goroutine that lives while there is work. What
// a crash (or a full queue) leaves unfiled, the catch-up job files from the
// stored events: every CatchUpInterval, and at start. A push is applied once
// by its key (appid and dedup key), however often it is filed.

// filerQueueLimit bounds the pushes waiting to be filed; beyond it they are
// left to the catch-up.
const filerQueueLimit = 20000

// maxFileBatch bounds one transaction.
const maxFileBatch = 1024

// item is one push to file: a user message, or a popup's consents.
type item struct {
	msg     *wxfleet.ConversationMessage
	popup   *popupItem
	change  *popupItem    // a subscribe_msg_change_event: the user's 拒收 from the settings
	sent    *sentItem     // a subscribe_msg_sent_event: how deliveries went
	flushed chan struct{} // a marker: closed when everything before it is written
}

type popupItem struct {
	componentAppID, appID, openID, key string
	changes                            []store.ConsentChange
}

type sentItem struct {
	componentAppID, appID, openID, key string
	reports                            []store.SubscribeDeliveryReport
}

type filer struct {
	s *Service

	mu      sync.Mutex
	pending []item
	running bool
	urgent  bool          // a flush waits: write without lingering
	wake    chan struct{} // ends a linger early
}

// linger is how long the writer lets a batch grow before it writes: fewer,
// larger transactions leave the one SQLite write connection to the ingest.
const linger = 20 * time.Millisecond

// enqueue hands an item to the writer without waiting; false when the queue
// is full (the catch-up files it later).
func (f *filer) enqueue(it item) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) >= filerQueueLimit && it.flushed == nil {
		return false
	}
	f.pending = append(f.pending, it)
	if it.flushed != nil || len(f.pending) >= maxFileBatch {
		f.urgent = it.flushed != nil || f.urgent
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	if !f.running {
		f.running = true
		go f.drain()
	}
	return true
}

// flush waits until everything enqueued before it is written (or ctx ends).
func (f *filer) flush(ctx context.Context) {
	done := make(chan struct{})
	f.enqueue(item{flushed: done})
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (f *filer) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		f.mu.Lock()
		if !f.urgent && len(f.pending) < maxFileBatch {
			f.mu.Unlock()
			t := time.NewTimer(linger)
			select {
			case <-t.C:
			case <-f.wake:
				t.Stop()
			}
			f.mu.Lock()
		}
		f.urgent = false
		n := min(len(f.pending), maxFileBatch)
		if n == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		batch := f.pending[:n:n]
		f.pending = f.pending[n:]
		f.mu.Unlock()
		if err := f.s.write(ctx, batch); err != nil {
			f.s.Logger.WarnContext(ctx, "filing user messages failed; the catch-up job files them from the stored events", "count", n, "err", err)
		}
		for _, it := range batch {
			if it.flushed != nil {
				close(it.flushed)
			}
		}
	}
}

// write stores a batch: the messages in one transaction, the popups each in its own.
func (s *Service) write(ctx context.Context, batch []item) error {
	var msgs []*wxfleet.ConversationMessage
	var first error
	for _, it := range batch {
		switch {
		case it.msg != nil:
			msgs = append(msgs, it.msg)
		case it.popup != nil:
			p := it.popup
			if _, err := s.Store.ApplySubscribePopup(ctx, p.componentAppID, p.appID, p.openID, p.key, p.changes, s.Now()); err != nil && first == nil {
				first = err
			}
		case it.change != nil:
			p := it.change
			if _, err := s.Store.ApplySubscribeChange(ctx, p.componentAppID, p.appID, p.openID, p.key, p.changes, s.Now()); err != nil && first == nil {
				first = err
			}
		case it.sent != nil:
			p := it.sent
			if _, err := s.Store.RecordSubscribeDeliveries(ctx, p.componentAppID, p.appID, p.openID, p.key, p.reports, s.Now()); err != nil && first == nil {
				first = err
			}
		}
	}
	if len(msgs) > 0 {
		if _, err := s.Store.AddConversationMessages(ctx, msgs); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Service) theFiler() *filer {
	s.filerOnce.Do(func() { s.filer = &filer{s: s, wake: make(chan struct{}, 1)} })
	return s.filer
}

// itemOf turns a stored push into what the filer writes; ok is false for a
// push with nothing to file.
func (s *Service) itemOf(ctx context.Context, ev *wxfleet.Event, msg push.Message) (item, bool) {
	openid := msg.Get("FromUserName")
	if openid == "" || ev.AppID == "" {
		return item{}, false
	}
	key := ""
	if ev.DedupKey != "" {
		key = ev.AppID + "/" + ev.DedupKey
	}
	if msg.Get("MsgType") == "event" && msg.Get("Event") == "subscribe_msg_popup_event" {
		changes, err := parsePopup(msg.Get("SubscribeMsgPopupEvent"))
		if err != nil || len(changes) == 0 {
			s.Logger.WarnContext(ctx, "subscribe_msg_popup_event without templates; stored, not applied",
				slog.String("component_appid", ev.ComponentAppID), slog.String("appid", ev.AppID), slog.Any("err", err))
			return item{}, false
		}
		return item{popup: &popupItem{ev.ComponentAppID, ev.AppID, openid, key, changes}}, true
	}
	if msg.Get("MsgType") == "event" && msg.Get("Event") == "subscribe_msg_change_event" {
		changes, err := parsePopup(msg.Get("SubscribeMsgChangeEvent"))
		if err != nil || len(changes) == 0 {
			s.Logger.WarnContext(ctx, "subscribe_msg_change_event without templates; stored, not applied",
				slog.String("component_appid", ev.ComponentAppID), slog.String("appid", ev.AppID), slog.Any("err", err))
			return item{}, false
		}
		return item{change: &popupItem{ev.ComponentAppID, ev.AppID, openid, key, changes}}, true
	}
	if msg.Get("MsgType") == "event" && msg.Get("Event") == "subscribe_msg_sent_event" {
		reports, err := parseSent(msg.Get("SubscribeMsgSentEvent"))
		if err != nil || len(reports) == 0 {
			s.Logger.WarnContext(ctx, "subscribe_msg_sent_event without a msgid; stored, not applied",
				slog.String("component_appid", ev.ComponentAppID), slog.String("appid", ev.AppID), slog.Any("err", err))
			return item{}, false
		}
		return item{sent: &sentItem{ev.ComponentAppID, ev.AppID, openid, key, reports}}, true
	}
	m := &wxfleet.ConversationMessage{ComponentAppID: ev.ComponentAppID, AppID: ev.AppID, OpenID: openid,
		Direction: wxfleet.DirectionIn, MsgType: msg.Get("MsgType"), PushKey: key, CreatedAt: msg.Time("CreateTime")}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = ev.ReceivedAt
	}
	switch m.MsgType {
	case "text":
		m.Content = msg.Get("Content")
	case "image":
		m.Content, m.MediaID = msg.Get("PicUrl"), msg.Get("MediaId")
	case "miniprogrampage":
		m.Content, m.MediaID = msg.Get("Title")+" "+msg.Get("PagePath"), msg.Get("ThumbMediaId")
	case "event":
		m.Content = msg.Get("Event")
		if from := msg.Get("SessionFrom"); from != "" {
			m.Content += " " + from
		}
	}
	return item{msg: m}, true
}

// handlePush is the push handler of every kind messaging takes: it hands
// the push to the filer and returns at once.
func (s *Service) handlePush(ctx context.Context, p push.Push) ([]byte, error) {
	if it, ok := s.itemOf(ctx, p.Event, p.Message); ok {
		s.theFiler().enqueue(it)
	}
	return nil, nil
}

// CatchUpInterval is how often the catch-up files what the filer missed.
const CatchUpInterval = 30 * time.Second

// catchUpOverlap is how far behind its cursor the catch-up reads again: on
// PostgreSQL a lower event id may commit after a higher one was read.
const catchUpOverlap = 2000

// CatchUpArgs files the stored events the filer missed.
type CatchUpArgs struct{}

// Kind implements river.JobArgs.
func (CatchUpArgs) Kind() string { return "messaging_catch_up" }

// InsertOpts keeps one catch-up waiting at a time.
func (CatchUpArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinishedStates}}
}

// CatchUpWorker works CatchUpArgs.
type CatchUpWorker struct {
	river.WorkerDefaults[CatchUpArgs]
	Service *Service
}

// Timeout bounds one catch-up.
func (w *CatchUpWorker) Timeout(*river.Job[CatchUpArgs]) time.Duration { return 5 * time.Minute }

// Work files every stored user push after the cursor (and the overlap
// before it), page by page, and moves the cursor.
func (w *CatchUpWorker) Work(ctx context.Context, job *river.Job[CatchUpArgs]) error {
	return w.Service.CatchUp(ctx)
}

// CatchUp files the stored user pushes the filer has not (see CatchUpWorker).
func (s *Service) CatchUp(ctx context.Context) error {
	cursor, err := s.Store.MessagingCursor(ctx)
	if err != nil {
		return err
	}
	after := max(0, cursor-catchUpOverlap)
	for {
		evs, err := s.Store.MessagingEventsAfter(ctx, after, 500)
		if err != nil {
			return err
		}
		var batch []item
		for _, ev := range evs {
			after = ev.ID
			msg, err := push.ParseMessage(ev.Payload)
			if err != nil {
				continue
			}
			if it, ok := s.itemOf(ctx, ev, msg); ok {
				batch = append(batch, it)
			}
		}
		if err := s.write(ctx, batch); err != nil {
			return err
		}
		if after > cursor {
			if err := s.Store.SetMessagingCursor(ctx, after, s.Now()); err != nil {
				return err
			}
			cursor = after
		}
		if len(evs) < 500 {
			return nil
		}
	}
}
