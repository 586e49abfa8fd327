package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxfleet/wxfleet"
)

// Customer-service conversations (客服) per (platform, mini program, openid).
// Every method takes the platform explicitly and every query filters on it.

// previewLen bounds a conversation's last_preview, in characters.
const previewLen = 60

func preview(m *wxfleet.ConversationMessage) string {
	p := m.Content
	if m.MsgType != "text" {
		p = "[" + m.MsgType + "] " + p
	}
	if utf8.RuneCountInString(p) > previewLen {
		p = string([]rune(p)[:previewLen]) + "…"
	}
	return p
}

// claimPush records that the messaging feature applied a push (its key:
// appid and dedup key): false when it already had (a retry, or the push
// handled again after a failure).
func claimPush(ctx context.Context, tx *sql.Tx, componentAppID, key string) (bool, error) {
	if key == "" {
		return true, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO messaging_pushes (component_appid, push_key) VALUES ($1, $2)
		ON CONFLICT (component_appid, push_key) DO NOTHING`, componentAppID, key)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AddConversationMessage stores one message of a conversation and updates
// the conversation (AddConversationMessages of one).
func (s *Store) AddConversationMessage(ctx context.Context, m *wxfleet.ConversationMessage) (bool, error) {
	added, err := s.AddConversationMessages(ctx, []*wxfleet.ConversationMessage{m})
	return len(added) == 1 && added[0], err
}

// AddConversationMessages stores messages of conversations in one
// transaction and updates their conversations: an incoming one (the user's,
// from push m.PushKey) moves the reply window. added[i] is false for a push
// applied before, which changes nothing.
func (s *Store) AddConversationMessages(ctx context.Context, ms []*wxfleet.ConversationMessage) (added []bool, err error) {
	for _, m := range ms {
		if m.ComponentAppID == "" || m.AppID == "" || m.OpenID == "" {
			return nil, invalid("会话消息缺少平台、小程序或 openid / a conversation message needs the platform, the mini program and the openid")
		}
		if m.Direction != wxfleet.DirectionIn && m.Direction != wxfleet.DirectionOut {
			return nil, invalid("未知的消息方向 %q / unknown direction %q", m.Direction, m.Direction)
		}
	}
	if len(ms) == 1 && ms[0].PushKey == "" {
		// One message of the platform's own (a reply): with its id.
		err = s.inTx(ctx, func(tx *sql.Tx) error { return addMessage(ctx, tx, ms[0]) })
		if err != nil {
			return nil, dbErr("add conversation message", err)
		}
		return []bool{true}, nil
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		pos := s.dialect == DialectSQLite
		added, err = claimPushes(ctx, tx, ms, pos)
		if err != nil {
			return err
		}
		var fresh []*wxfleet.ConversationMessage
		for i, m := range ms {
			if added[i] {
				fresh = append(fresh, m)
			}
		}
		if err := insertMessages(ctx, tx, fresh, pos); err != nil {
			return err
		}
		return upsertConversations(ctx, tx, fresh, pos)
	})
	if err != nil {
		return nil, dbErr("add conversation messages", err)
	}
	return added, nil
}

// messageChunk bounds the rows of one multi-row statement (9 parameters a
// row stays far below both databases' limits).
const messageChunk = 100

// row is the placeholders of one row of a multi-row statement, after n
// arguments: "?" on SQLite, whose cost of resolving numbered parameters
// grows with their number (as store/event.go's statements do), "$N" on
// PostgreSQL.
func row(n, cols int, pos bool) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		if pos {
			b.WriteByte('?')
		} else {
			b.WriteString("$" + strconv.Itoa(n+i+1))
		}
	}
	b.WriteByte(')')
	return b.String()
}

// claimPushes claims the pushes of a batch in multi-row statements and
// reports which are new: a key claimed before, or twice in the batch, is not.
func claimPushes(ctx context.Context, tx *sql.Tx, ms []*wxfleet.ConversationMessage, pos bool) ([]bool, error) {
	added := make([]bool, len(ms))
	type key struct{ comp, push string }
	first := map[key]int{}
	var claim []int
	for i, m := range ms {
		if m.PushKey == "" {
			added[i] = true
			continue
		}
		k := key{m.ComponentAppID, m.PushKey}
		if _, dup := first[k]; !dup {
			first[k] = i
			claim = append(claim, i)
		}
	}
	for start := 0; start < len(claim); start += messageChunk {
		part := claim[start:min(len(claim), start+messageChunk)]
		var b strings.Builder
		args := make([]any, 0, 2*len(part))
		b.WriteString(`INSERT INTO messaging_pushes (component_appid, push_key) VALUES `)
		for j, i := range part {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row(len(args), 2, pos))
			args = append(args, ms[i].ComponentAppID, ms[i].PushKey)
		}
		b.WriteString(` ON CONFLICT (component_appid, push_key) DO NOTHING RETURNING component_appid, push_key`)
		rows, err := tx.QueryContext(ctx, b.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.comp, &k.push); err != nil {
				rows.Close()
				return nil, err
			}
			added[first[k]] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return added, nil
}

func insertMessages(ctx context.Context, tx *sql.Tx, ms []*wxfleet.ConversationMessage, pos bool) error {
	for start := 0; start < len(ms); start += messageChunk {
		part := ms[start:min(len(ms), start+messageChunk)]
		var b strings.Builder
		args := make([]any, 0, 10*len(part))
		b.WriteString(`INSERT INTO conversation_messages (component_appid, appid, openid, direction, msgtype, content, media_id, push_key, created_at, wechat_msgid) VALUES `)
		for j, m := range part {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row(len(args), 10, pos))
			args = append(args, m.ComponentAppID, m.AppID, m.OpenID, m.Direction, m.MsgType, m.Content, m.MediaID, m.PushKey, toMillis(m.CreatedAt), m.WeChatMsgID)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// conversationUpsert is one conversation's change in a batch: the times move
// only forward (pushes may arrive out of order).
const conversationUpsert = ` ON CONFLICT (component_appid, appid, openid) DO UPDATE SET
	last_user_at = CASE WHEN excluded.last_user_at > conversations.last_user_at THEN excluded.last_user_at ELSE conversations.last_user_at END,
	last_preview = CASE WHEN excluded.last_message_at >= conversations.last_message_at THEN excluded.last_preview ELSE conversations.last_preview END,
	last_message_at = CASE WHEN excluded.last_message_at > conversations.last_message_at THEN excluded.last_message_at ELSE conversations.last_message_at END,
	messages = conversations.messages + excluded.messages`

// upsertConversations folds a batch into one row per conversation (one
// statement may not change a row twice) and writes them.
func upsertConversations(ctx context.Context, tx *sql.Tx, ms []*wxfleet.ConversationMessage, pos bool) error {
	type key struct{ comp, app, openid string }
	type agg struct {
		userAt, lastAt, n int64
		preview           string
	}
	var order []key
	aggs := map[key]*agg{}
	for _, m := range ms {
		k := key{m.ComponentAppID, m.AppID, m.OpenID}
		a := aggs[k]
		if a == nil {
			a = &agg{lastAt: -1}
			aggs[k] = a
			order = append(order, k)
		}
		at := toMillis(m.CreatedAt)
		if m.Direction == wxfleet.DirectionIn && at > a.userAt {
			a.userAt = at
		}
		if at >= a.lastAt {
			a.lastAt, a.preview = at, preview(m)
		}
		a.n++
	}
	for start := 0; start < len(order); start += messageChunk {
		part := order[start:min(len(order), start+messageChunk)]
		var b strings.Builder
		args := make([]any, 0, 7*len(part))
		b.WriteString(`INSERT INTO conversations (component_appid, appid, openid, last_user_at, last_message_at, last_preview, messages) VALUES `)
		for j, k := range part {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row(len(args), 7, pos))
			a := aggs[k]
			args = append(args, k.comp, k.app, k.openid, a.userAt, a.lastAt, a.preview, a.n)
		}
		b.WriteString(conversationUpsert)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

func addMessage(ctx context.Context, tx *sql.Tx, m *wxfleet.ConversationMessage) error {
	at := toMillis(m.CreatedAt)
	if err := tx.QueryRowContext(ctx, `INSERT INTO conversation_messages (component_appid, appid, openid, direction,
		msgtype, content, media_id, push_key, created_at, wechat_msgid) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		m.ComponentAppID, m.AppID, m.OpenID, m.Direction, m.MsgType, m.Content, m.MediaID, m.PushKey, at, m.WeChatMsgID).Scan(&m.ID); err != nil {
		return err
	}
	userAt := int64(0)
	if m.Direction == wxfleet.DirectionIn {
		userAt = at
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO conversations (component_appid, appid, openid, last_user_at, last_message_at, last_preview, messages)
		VALUES ($1, $2, $3, $4, $5, $6, 1)`+conversationUpsert,
		m.ComponentAppID, m.AppID, m.OpenID, userAt, at, preview(m))
	return err
}

const conversationColumns = `component_appid, appid, openid, last_user_at, last_message_at, last_preview, messages`

func scanConversation(row interface{ Scan(...any) error }) (*wxfleet.Conversation, error) {
	var c wxfleet.Conversation
	var user, last int64
	if err := row.Scan(&c.ComponentAppID, &c.AppID, &c.OpenID, &user, &last, &c.LastPreview, &c.Messages); err != nil {
		return nil, err
	}
	c.LastUserAt, c.LastMessageAt = fromMillis(user), fromMillis(last)
	return &c, nil
}

// Conversation returns one user's conversation with a mini program inside
// sc; ENOTFOUND outside it.
func (s *Store) Conversation(ctx context.Context, sc wxfleet.Scope, componentAppID, appID, openID string) (*wxfleet.Conversation, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("appid = $%d", appID)
	w.and("openid = $%d", openID)
	appScoped(&w, "conversations", sc)
	c, err := scanConversation(s.read.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations`+w.sql.String(), w.args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("没有与该用户的会话 / no conversation with user %s", openID)
	}
	if err != nil {
		return nil, dbErr("read conversation", err)
	}
	return c, nil
}

// ConversationCursor returns the cursor that follows c in ListConversations.
func ConversationCursor(c *wxfleet.Conversation) string {
	return strconv.FormatInt(toMillis(c.LastMessageAt), 10) + ":" + c.OpenID
}

// ListConversations pages a mini program's conversations inside sc (none
// outside it), the most recent first; cursor is ConversationCursor of the
// last one of the previous page.
func (s *Store) ListConversations(ctx context.Context, sc wxfleet.Scope, componentAppID, appID string, limit int, cursor string) ([]*wxfleet.Conversation, int, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("appid = $%d", appID)
	appScoped(&w, "conversations", sc)
	var total int
	if err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversations`+w.sql.String(), w.args...).Scan(&total); err != nil {
		return nil, 0, dbErr("count conversations", err)
	}
	if cursor != "" {
		ms, openid, ok := strings.Cut(cursor, ":")
		at, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil {
			return nil, 0, invalid("cursor 无效 / invalid cursor %q", cursor)
		}
		a, b, c := w.next(at), w.next(at), w.next(openid)
		w.sql.WriteString(" AND (last_message_at < " + a + " OR (last_message_at = " + b + " AND openid > " + c + "))")
	}
	q := `SELECT ` + conversationColumns + ` FROM conversations` + w.sql.String() +
		` ORDER BY last_message_at DESC, openid LIMIT ` + w.next(clampLimit(limit))
	rows, err := s.read.QueryContext(ctx, q, w.args...)
	if err != nil {
		return nil, 0, dbErr("list conversations", err)
	}
	defer rows.Close()
	var out []*wxfleet.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, 0, dbErr("list conversations", err)
		}
		out = append(out, c)
	}
	return out, total, dbErr("list conversations", rows.Err())
}

// UserWrites is when the user last wrote (a message) and last only entered
// the customer-service session (user_enter_tempsession, filed as msgtype
// "event") to one mini program, since since; zero when not. It reads the
// user's rows of conversation_messages_by_user.
func (s *Store) UserWrites(ctx context.Context, componentAppID, appID, openID string, since time.Time) (lastMessage, lastEntry time.Time, err error) {
	var msg, entry sql.NullInt64
	err = s.read.QueryRowContext(ctx, `SELECT MAX(CASE WHEN msgtype <> 'event' THEN created_at END), MAX(CASE WHEN msgtype = 'event' THEN created_at END)
		FROM conversation_messages WHERE component_appid = $1 AND appid = $2 AND openid = $3 AND direction = $4 AND created_at >= $5`,
		componentAppID, appID, openID, wxfleet.DirectionIn, toMillis(since)).Scan(&msg, &entry)
	if err != nil {
		return time.Time{}, time.Time{}, dbErr("user writes", err)
	}
	if msg.Valid {
		lastMessage = fromMillis(msg.Int64)
	}
	if entry.Valid {
		lastEntry = fromMillis(entry.Int64)
	}
	return lastMessage, lastEntry, nil
}

// ConversationMessages pages one conversation's messages inside sc (none
// outside it), newest first; before is the id of the last one of the
// previous page (0 for the first).
func (s *Store) ConversationMessages(ctx context.Context, sc wxfleet.Scope, componentAppID, appID, openID string, before int64, limit int) ([]*wxfleet.ConversationMessage, error) {
	var w where
	w.and("m.component_appid = $%d", componentAppID)
	w.and("m.appid = $%d", appID)
	w.and("m.openid = $%d", openID)
	appScoped(&w, "m", sc)
	if before > 0 {
		w.and("m.id < $%d", before)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT m.id, m.component_appid, m.appid, m.openid, m.direction, m.msgtype, m.content, m.media_id,
		m.push_key, m.created_at, m.wechat_msgid, d.error_code, d.error_status, d.reported_at FROM conversation_messages m
		LEFT JOIN subscribe_deliveries d ON m.wechat_msgid <> '' AND d.component_appid = m.component_appid AND d.appid = m.appid AND d.msgid = m.wechat_msgid`+
		w.sql.String()+` ORDER BY m.id DESC LIMIT `+w.next(clampLimit(limit)), w.args...)
	if err != nil {
		return nil, dbErr("list conversation messages", err)
	}
	defer rows.Close()
	var out []*wxfleet.ConversationMessage
	for rows.Next() {
		var m wxfleet.ConversationMessage
		var at int64
		var code, reported sql.NullInt64
		var status sql.NullString
		if err := rows.Scan(&m.ID, &m.ComponentAppID, &m.AppID, &m.OpenID, &m.Direction, &m.MsgType, &m.Content,
			&m.MediaID, &m.PushKey, &at, &m.WeChatMsgID, &code, &status, &reported); err != nil {
			return nil, dbErr("list conversation messages", err)
		}
		m.CreatedAt = fromMillis(at)
		if reported.Valid {
			m.Delivery = &wxfleet.SubscribeDelivery{ErrorCode: int(code.Int64), ErrorStatus: status.String, ReportedAt: fromMillis(reported.Int64)}
		}
		out = append(out, &m)
	}
	return out, dbErr("list conversation messages", rows.Err())
}

// ConsentChange is one template's answer in a 订阅 popup.
type ConsentChange struct {
	TemplateID string
	Accept     bool
}

// ApplySubscribePopup applies a subscribe_msg_popup_event (push key as
// AddConversationMessages takes it): an accept grants one send of a one-time template, or turns a
// long-term one on; a refusal clears the consent. A template's type comes
// from the stored templates (one-time when unknown). A push applied before
// changes nothing and reports false.
func (s *Store) ApplySubscribePopup(ctx context.Context, componentAppID, appID, openID, pushKey string, changes []ConsentChange, now time.Time) (bool, error) {
	applied := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		fresh, err := claimPush(ctx, tx, componentAppID, pushKey)
		if err != nil || !fresh {
			return err
		}
		for _, c := range changes {
			var typ int
			err := tx.QueryRowContext(ctx, `SELECT type FROM subscribe_templates WHERE component_appid = $1 AND appid = $2 AND template_id = $3`,
				componentAppID, appID, c.TemplateID).Scan(&typ)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			longTerm := typ == 3
			var q string
			switch {
			case !c.Accept:
				q = `INSERT INTO subscribe_consents (component_appid, appid, openid, template_id, remaining, long_term, updated_at)
					VALUES ($1, $2, $3, $4, 0, 0, $5) ON CONFLICT (component_appid, appid, openid, template_id) DO UPDATE SET
					remaining = 0, long_term = 0, updated_at = excluded.updated_at`
			case longTerm:
				q = `INSERT INTO subscribe_consents (component_appid, appid, openid, template_id, remaining, long_term, updated_at)
					VALUES ($1, $2, $3, $4, 0, 1, $5) ON CONFLICT (component_appid, appid, openid, template_id) DO UPDATE SET
					long_term = 1, refused_at = 0, updated_at = excluded.updated_at`
			default:
				q = `INSERT INTO subscribe_consents (component_appid, appid, openid, template_id, remaining, long_term, updated_at)
					VALUES ($1, $2, $3, $4, 1, 0, $5) ON CONFLICT (component_appid, appid, openid, template_id) DO UPDATE SET
					remaining = subscribe_consents.remaining + 1, refused_at = 0, updated_at = excluded.updated_at`
			}
			if _, err := tx.ExecContext(ctx, q, componentAppID, appID, openID, c.TemplateID, toMillis(now)); err != nil {
				return err
			}
		}
		applied = true
		return nil
	})
	return applied, dbErr("apply subscribe popup", err)
}

// ApplySubscribeChange applies a subscribe_msg_change_event (push key as
// ApplySubscribePopup takes it): a template the user set to 拒收 in the
// settings loses what they granted and stays refused until they accept it
// again; an accept (WeChat pushes none today, docs/wechat-capabilities.md)
// lifts the refusal and grants nothing. A push applied before changes
// nothing and reports false.
func (s *Store) ApplySubscribeChange(ctx context.Context, componentAppID, appID, openID, pushKey string, changes []ConsentChange, now time.Time) (bool, error) {
	applied := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		fresh, err := claimPush(ctx, tx, componentAppID, pushKey)
		if err != nil || !fresh {
			return err
		}
		for _, c := range changes {
			q := `INSERT INTO subscribe_consents (component_appid, appid, openid, template_id, remaining, long_term, updated_at, refused_at)
				VALUES ($1, $2, $3, $4, 0, 0, $5, $5) ON CONFLICT (component_appid, appid, openid, template_id) DO UPDATE SET
				remaining = 0, long_term = 0, updated_at = excluded.updated_at, refused_at = excluded.refused_at`
			if c.Accept {
				q = `UPDATE subscribe_consents SET refused_at = 0, updated_at = $5
					WHERE component_appid = $1 AND appid = $2 AND openid = $3 AND template_id = $4`
			}
			if _, err := tx.ExecContext(ctx, q, componentAppID, appID, openID, c.TemplateID, toMillis(now)); err != nil {
				return err
			}
		}
		applied = true
		return nil
	})
	return applied, dbErr("apply subscribe change", err)
}

// ConsentRefused reports whether the user set the template to 拒收 in the
// settings (and has not accepted it since).
func (s *Store) ConsentRefused(ctx context.Context, componentAppID, appID, openID, templateID string) (bool, error) {
	var refused int64
	err := s.read.QueryRowContext(ctx, `SELECT refused_at FROM subscribe_consents
		WHERE component_appid = $1 AND appid = $2 AND openid = $3 AND template_id = $4`,
		componentAppID, appID, openID, templateID).Scan(&refused)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return refused > 0, dbErr("read consent", err)
}

// SubscribeDeliveryReport is one <List> item of a subscribe_msg_sent_event.
type SubscribeDeliveryReport struct {
	TemplateID  string
	MsgID       string
	ErrorCode   int
	ErrorStatus string
}

// RecordSubscribeDeliveries stores what a subscribe_msg_sent_event reported
// (push key as ApplySubscribePopup takes it), keyed by msgid: the message
// record reads it whether it was stored before or after. A push applied
// before changes nothing and reports false.
func (s *Store) RecordSubscribeDeliveries(ctx context.Context, componentAppID, appID, openID, pushKey string, reports []SubscribeDeliveryReport, now time.Time) (bool, error) {
	applied := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		fresh, err := claimPush(ctx, tx, componentAppID, pushKey)
		if err != nil || !fresh {
			return err
		}
		for _, r := range reports {
			if _, err := tx.ExecContext(ctx, `INSERT INTO subscribe_deliveries (component_appid, appid, msgid, openid, template_id,
					error_code, error_status, reported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (component_appid, appid, msgid) DO UPDATE SET error_code = excluded.error_code,
					error_status = excluded.error_status, reported_at = excluded.reported_at`,
				componentAppID, appID, r.MsgID, openID, r.TemplateID, r.ErrorCode, r.ErrorStatus, toMillis(now)); err != nil {
				return err
			}
		}
		applied = true
		return nil
	})
	return applied, dbErr("record subscribe deliveries", err)
}

// TakeConsent uses one of the user's consents to a template before a send:
// false when there is none (the send must not be made). A long-term
// subscription is not used up.
func (s *Store) TakeConsent(ctx context.Context, componentAppID, appID, openID, templateID string, now time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE subscribe_consents SET
			remaining = CASE WHEN long_term = 1 THEN remaining ELSE remaining - 1 END, updated_at = $1
		WHERE component_appid = $2 AND appid = $3 AND openid = $4 AND template_id = $5 AND refused_at = 0 AND (long_term = 1 OR remaining > 0)`,
		toMillis(now), componentAppID, appID, openID, templateID)
	if err != nil {
		return false, dbErr("take consent", err)
	}
	n, err := res.RowsAffected()
	return n == 1, dbErr("take consent", err)
}

// ReturnConsent gives back a consent TakeConsent used for a send WeChat did
// not make; clear (WeChat said the user has none: 43101) drops them all.
func (s *Store) ReturnConsent(ctx context.Context, componentAppID, appID, openID, templateID string, clear bool, now time.Time) error {
	q := `UPDATE subscribe_consents SET remaining = CASE WHEN long_term = 1 THEN remaining ELSE remaining + 1 END, updated_at = $1`
	if clear {
		q = `UPDATE subscribe_consents SET remaining = 0, long_term = 0, updated_at = $1`
	}
	_, err := s.write.ExecContext(ctx, q+` WHERE component_appid = $2 AND appid = $3 AND openid = $4 AND template_id = $5`,
		toMillis(now), componentAppID, appID, openID, templateID)
	return dbErr("return consent", err)
}

// Consents lists what one user granted a mini program's templates, inside
// sc (none outside it).
func (s *Store) Consents(ctx context.Context, sc wxfleet.Scope, componentAppID, appID, openID string) ([]wxfleet.SubscribeConsent, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("appid = $%d", appID)
	w.and("openid = $%d", openID)
	appScoped(&w, "subscribe_consents", sc)
	rows, err := s.read.QueryContext(ctx, `SELECT openid, template_id, remaining, long_term, updated_at, refused_at FROM subscribe_consents`+
		w.sql.String()+` ORDER BY template_id`, w.args...)
	if err != nil {
		return nil, dbErr("list consents", err)
	}
	defer rows.Close()
	var out []wxfleet.SubscribeConsent
	for rows.Next() {
		var c wxfleet.SubscribeConsent
		var long, at, refused int64
		if err := rows.Scan(&c.OpenID, &c.TemplateID, &c.Remaining, &long, &at, &refused); err != nil {
			return nil, dbErr("list consents", err)
		}
		c.LongTerm, c.UpdatedAt = long == 1, fromMillis(at)
		if refused > 0 {
			c.RefusedAt = fromMillis(refused)
		}
		out = append(out, c)
	}
	return out, dbErr("list consents", rows.Err())
}

// messagingTypes are the event types the messaging feature files.
const messagingTypes = `('text', 'image', 'miniprogrampage', 'user_enter_tempsession', 'subscribe_msg_popup_event',
	'subscribe_msg_change_event', 'subscribe_msg_sent_event')`

// MessagingEventsAfter returns the stored user messages and 订阅 popup
// events of every platform with ids above after, oldest first, at most
// limit: what the messaging feature files, read again by its catch-up.
func (s *Store) MessagingEventsAfter(ctx context.Context, after int64, limit int) ([]*wxfleet.Event, error) {
	rows, err := s.read.QueryContext(ctx, eventSelect+` WHERE id > $1 AND type IN `+messagingTypes+` ORDER BY id LIMIT $2`, after, clampLimit(limit))
	if err != nil {
		return nil, dbErr("list messaging events", err)
	}
	defer rows.Close()
	var out []*wxfleet.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, dbErr("list messaging events", err)
		}
		out = append(out, ev)
	}
	return out, dbErr("list messaging events", rows.Err())
}

const metaMessagingCursor = "messaging.events_cursor"

// MessagingCursor returns the id of the last event the messaging catch-up
// filed, 0 before the first.
func (s *Store) MessagingCursor(ctx context.Context) (int64, error) {
	v, ok, err := s.Meta(ctx, metaMessagingCursor)
	if err != nil || !ok {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, dbErr("read messaging cursor", err)
	}
	return n, nil
}

// SetMessagingCursor records the id of the last event the catch-up filed.
func (s *Store) SetMessagingCursor(ctx context.Context, id int64, now time.Time) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.SetMeta(ctx, metaMessagingCursor, strconv.FormatInt(id, 10), now) })
}
