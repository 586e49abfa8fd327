package webhook

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/wxfleet/wxfleet/push"
	"github.com/wxfleet/wxfleet/queue"
)

// Feature is webhooks as the server wires them: the delivery worker, the
// hourly prune of old events, and user messages sent out as
// message.received.
type Feature struct {
	Service *Service
}

// RegisterWorkers adds the delivery and prune workers.
func (f *Feature) RegisterWorkers(w *queue.Workers) {
	queue.AddWorker(w, &Worker{Service: f.Service})
	queue.AddWorker(w, &pruneWorker{s: f.Service})
}

// Kept is how long events and their delivery logs are kept (an event with
// a delivery still pending is kept until it is delivered or dead).
const Kept = 30 * 24 * time.Hour

// PruneArgs is the hourly prune of events older than Kept.
type PruneArgs struct{}

// Kind implements river.JobArgs.
func (PruneArgs) Kind() string { return "prune_webhook_events" }

// InsertOpts: the next hour's prune tries again anyway.
func (PruneArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 3} }

// PeriodicJobs schedules the prune every hour.
func (f *Feature) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return PruneArgs{}, nil }, nil)}
}

type pruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	s *Service
}

func (w *pruneWorker) Work(ctx context.Context, job *river.Job[PruneArgs]) error {
	before, total := w.s.Now().Add(-Kept), 0
	for {
		n, err := w.s.Store.PruneWebhookEvents(ctx, before, 1000)
		total += n
		if err != nil {
			return err
		}
		if n < 1000 {
			break
		}
	}
	if total > 0 {
		w.s.Logger.Info("pruned old webhook events and their delivery logs", "events", total)
	}
	return nil
}

// RegisterPushes observes the message URL: a user's message to a mini
// program becomes message.received, whatever else answers it.
func (f *Feature) RegisterPushes(m *push.Mux) {
	m.ObserveMessages(f.message)
}

// userMessages are the MsgTypes a user sends (events are WeChat's, not the
// user's: MsgType event is not among them).
var userMessages = map[string]bool{
	"text": true, "image": true, "voice": true, "video": true, "shortvideo": true,
	"location": true, "link": true, "miniprogrampage": true, "file": true,
}

// MessageData is message.received's data.
type MessageData struct {
	MsgType    string            `json:"msg_type"`
	OpenID     string            `json:"openid"` // the user (FromUserName)
	MsgID      string            `json:"msg_id,omitempty"`
	CreateTime int64             `json:"create_time"`
	Fields     map[string]string `json:"fields"` // every field of the push as WeChat sent it
}

func (f *Feature) message(ctx context.Context, p push.Push) error {
	msgType := p.Message.Get("MsgType")
	if !userMessages[msgType] {
		return nil
	}
	fields := make(map[string]string, len(p.Message))
	for _, fl := range p.Message {
		fields[fl.Name] = fl.Value
	}
	ev := p.Event
	return f.Service.Emit(ctx, nil, Event{
		// WeChat's retries of one message make one event.
		ID:   EventID(MessageReceived, ev.ComponentAppID, ev.AppID, ev.DedupKey),
		Type: MessageReceived, ComponentAppID: ev.ComponentAppID, AppID: ev.AppID,
		Data: MessageData{MsgType: msgType, OpenID: p.Message.Get("FromUserName"), MsgID: p.Message.Get("MsgId"),
			CreateTime: p.Message.Int("CreateTime"), Fields: fields},
	})
}
