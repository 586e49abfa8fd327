package wxfleet

import "time"

// Conversation is one user's customer-service session (客服会话) with a mini
// program: the messages both ways and when the user last wrote, which opens
// WeChat's 48-hour reply window.
type Conversation struct {
	ComponentAppID string
	AppID          string
	OpenID         string
	LastUserAt     time.Time // the user's last message or session entry
	LastMessageAt  time.Time // the last message either way
	LastPreview    string    // a short text of the last message
	Messages       int64
}

// ReplyWindow is how long after the user's last message a mini program may
// send them customer-service messages (WeChat's errcode 45015 after it).
const ReplyWindow = 48 * time.Hour

// EntryWindow is how long after the user only entered the customer-service
// session (user_enter_tempsession, no message) the mini program may answer
// (docs/wechat-capabilities.md, §6).
const EntryWindow = time.Minute

// WindowOpen reports whether the mini program may still answer at now,
// counting a session entry like a message: an upper bound, for a quick
// "closed"; messaging.Service.Window tells the two apart (ReplyWindowEnd).
func (c *Conversation) WindowOpen(now time.Time) bool {
	return !c.LastUserAt.IsZero() && now.Before(c.LastUserAt.Add(ReplyWindow))
}

// ReplyWindowEnd is when the mini program's customer-service window closes
// (or closed), from the user's last message and last session entry (zero:
// none): 48 hours after the message, a minute after an entry alone,
// whichever is later. It is zero when the user never wrote; entryOnly tells
// that the end comes from an entry, not a message. The send path and the
// inbox both decide with it (messaging.Service.Window).
func ReplyWindowEnd(lastMessage, lastEntry time.Time) (ends time.Time, entryOnly bool) {
	if !lastMessage.IsZero() {
		ends = lastMessage.Add(ReplyWindow)
	}
	if !lastEntry.IsZero() && lastEntry.Add(EntryWindow).After(ends) {
		return lastEntry.Add(EntryWindow), true
	}
	return ends, false
}

// Message directions.
const (
	DirectionIn  = "in"  // the user sent it
	DirectionOut = "out" // the mini program sent it
)

// ConversationMessage is one message of a conversation.
type ConversationMessage struct {
	ID             int64
	ComponentAppID string
	AppID          string
	OpenID         string
	Direction      string // DirectionIn or DirectionOut
	MsgType        string // text, image, miniprogrampage, link, event
	Content        string // the text, a title, an event name
	MediaID        string // an image's media id
	PushKey        string // the push it came from (in): appid and the push's dedup key; "" for out
	CreatedAt      time.Time
	WeChatMsgID    string             // a subscribe message's msgid, as WeChat answered the send
	Delivery       *SubscribeDelivery // what subscribe_msg_sent_event reported for it; nil until it did
}

// SubscribeDelivery is the outcome WeChat reported for a subscribe message
// (subscribe_msg_sent_event): ErrorCode 0 is a delivery; WeChat reports
// only failures of its own asynchronous delivery (docs/wechat-capabilities.md).
type SubscribeDelivery struct {
	ErrorCode   int
	ErrorStatus string
	ReportedAt  time.Time
}

// SubscribeTemplate is a subscribe-message template (订阅消息模板) a mini
// program added from WeChat's public library.
type SubscribeTemplate struct {
	ComponentAppID string
	AppID          string
	TemplateID     string // WeChat's priTmplId
	TID            int    // the library template it came from; 0 when unknown (added elsewhere)
	Title          string
	Content        string
	Example        string
	Type           int // 2 one-time (一次性订阅), 3 long-term (长期订阅)
	SyncedAt       time.Time
}

// SubscribeConsent is what one user granted one template: one-time sends
// left, or a long-term subscription.
type SubscribeConsent struct {
	OpenID     string
	TemplateID string
	Remaining  int
	LongTerm   bool
	UpdatedAt  time.Time
	RefusedAt  time.Time // when the user set the template to 拒收 in the settings; zero when they did not (or accepted since)
}

// SubscribeApply adds one library template to many mini programs (a
// fleet-wide apply), app by app as River jobs.
type SubscribeApply struct {
	ID             int64
	ComponentAppID string
	TID            int
	KIDs           []int
	SceneDesc      string
	// Keywords are the names and data keys of the chosen keywords, as the
	// library listed them: a retry finds a template it added before by them.
	Keywords  []SubscribeKeyword
	CreatedAt time.Time
}

// SubscribeKeyword is a keyword of a library template: its name and its data
// key (rule and kid, e.g. thing1).
type SubscribeKeyword struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// States of one app in a fleet-wide apply.
const (
	ApplyPending = "pending"
	ApplyAdded   = "added"
	ApplyFailed  = "failed"
)

// SubscribeApplyApp is one mini program of a fleet-wide apply.
type SubscribeApplyApp struct {
	AppID      string
	Status     string
	TemplateID string
	Error      string
	UpdatedAt  time.Time
}
