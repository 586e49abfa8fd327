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

// claimPush records that the messaging feature applied a stored push: false
// when it already had (a retry, or the push handled again after a failure).
func claimPush(ctx context.Context, tx *sql.Tx, componentAppID string, eventID int64) (bool, error) {
	if eventID == 0 {
		return true, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO messaging_pushes (component_appid, event_id) VALUES ($1, $2)
		ON CONFLICT (component_appid, event_id) DO NOTHING`, componentAppID, eventID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AddConversationMessage stores one message of a conversation and updates
// the conversation: an incoming one (the user's, from the stored push
// m.EventID) moves the reply window. A push applied before changes nothing
// and reports false.
func (s *Store) AddConversationMessage(ctx context.Context, m *wxfleet.ConversationMessage) (bool, error) {
	if m.ComponentAppID == "" || m.AppID == "" || m.OpenID == "" {
		return false, invalid("会话消息缺少平台、小程序或 openid / a conversation message needs the platform, the mini program and the openid")
	}
	if m.Direction != wxfleet.DirectionIn && m.Direction != wxfleet.DirectionOut {
		return false, invalid("未知的消息方向 %q / unknown direction %q", m.Direction, m.Direction)
	}
	added := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		fresh, err := claimPush(ctx, tx, m.ComponentAppID, m.EventID)
		if err != nil || !fresh {
			return err
		}
		at := toMillis(m.CreatedAt)
		if err := tx.QueryRowContext(ctx, `INSERT INTO conversation_messages (component_appid, appid, openid, direction,
			msgtype, content, media_id, event_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			m.ComponentAppID, m.AppID, m.OpenID, m.Direction, m.MsgType, m.Content, m.MediaID, m.EventID, at).Scan(&m.ID); err != nil {
			return err
		}
		userAt := int64(0)
		if m.Direction == wxfleet.DirectionIn {
			userAt = at
		}
		// Pushes may arrive out of order: each time moves only forward.
		_, err = tx.ExecContext(ctx, `INSERT INTO conversations (component_appid, appid, openid, last_user_at, last_message_at, last_preview, messages)
			VALUES ($1, $2, $3, $4, $5, $6, 1)
			ON CONFLICT (component_appid, appid, openid) DO UPDATE SET
				last_user_at = CASE WHEN excluded.last_user_at > conversations.last_user_at THEN excluded.last_user_at ELSE conversations.last_user_at END,
				last_preview = CASE WHEN excluded.last_message_at >= conversations.last_message_at THEN excluded.last_preview ELSE conversations.last_preview END,
				last_message_at = CASE WHEN excluded.last_message_at > conversations.last_message_at THEN excluded.last_message_at ELSE conversations.last_message_at END,
				messages = conversations.messages + 1`,
			m.ComponentAppID, m.AppID, m.OpenID, userAt, at, preview(m))
		added = err == nil
		return err
	})
	return added, dbErr("add conversation message", err)
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

// Conversation returns one user's conversation with a mini program.
func (s *Store) Conversation(ctx context.Context, componentAppID, appID, openID string) (*wxfleet.Conversation, error) {
	c, err := scanConversation(s.read.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations
		WHERE component_appid = $1 AND appid = $2 AND openid = $3`, componentAppID, appID, openID))
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

// ListConversations pages a mini program's conversations, the most recent
// first; cursor is ConversationCursor of the last one of the previous page.
func (s *Store) ListConversations(ctx context.Context, componentAppID, appID string, limit int, cursor string) ([]*wxfleet.Conversation, int, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("appid = $%d", appID)
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

// ConversationMessages pages one conversation's messages, newest first;
// before is the id of the last one of the previous page (0 for the first).
func (s *Store) ConversationMessages(ctx context.Context, componentAppID, appID, openID string, before int64, limit int) ([]*wxfleet.ConversationMessage, error) {
	var w where
	w.and("component_appid = $%d", componentAppID)
	w.and("appid = $%d", appID)
	w.and("openid = $%d", openID)
	if before > 0 {
		w.and("id < $%d", before)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, component_appid, appid, openid, direction, msgtype, content, media_id,
		event_id, created_at FROM conversation_messages`+w.sql.String()+` ORDER BY id DESC LIMIT `+w.next(clampLimit(limit)), w.args...)
	if err != nil {
		return nil, dbErr("list conversation messages", err)
	}
	defer rows.Close()
	var out []*wxfleet.ConversationMessage
	for rows.Next() {
		var m wxfleet.ConversationMessage
		var at int64
		if err := rows.Scan(&m.ID, &m.ComponentAppID, &m.AppID, &m.OpenID, &m.Direction, &m.MsgType, &m.Content,
			&m.MediaID, &m.EventID, &at); err != nil {
			return nil, dbErr("list conversation messages", err)
		}
		m.CreatedAt = fromMillis(at)
		out = append(out, &m)
	}
	return out, dbErr("list conversation messages", rows.Err())
}

// ConsentChange is one template's answer in a 订阅 popup.
type ConsentChange struct {
	TemplateID string
	Accept     bool
}

// ApplySubscribePopup applies a subscribe_msg_popup_event (stored push
// eventID): an accept grants one send of a one-time template, or turns a
// long-term one on; a refusal clears the consent. A template's type comes
// from the stored templates (one-time when unknown). A push applied before
// changes nothing and reports false.
func (s *Store) ApplySubscribePopup(ctx context.Context, componentAppID, appID, openID string, eventID int64, changes []ConsentChange, now time.Time) (bool, error) {
	applied := false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		fresh, err := claimPush(ctx, tx, componentAppID, eventID)
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
					long_term = 1, updated_at = excluded.updated_at`
			default:
				q = `INSERT INTO subscribe_consents (component_appid, appid, openid, template_id, remaining, long_term, updated_at)
					VALUES ($1, $2, $3, $4, 1, 0, $5) ON CONFLICT (component_appid, appid, openid, template_id) DO UPDATE SET
					remaining = subscribe_consents.remaining + 1, updated_at = excluded.updated_at`
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

// TakeConsent uses one of the user's consents to a template before a send:
// false when there is none (the send must not be made). A long-term
// subscription is not used up.
func (s *Store) TakeConsent(ctx context.Context, componentAppID, appID, openID, templateID string, now time.Time) (bool, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE subscribe_consents SET
			remaining = CASE WHEN long_term = 1 THEN remaining ELSE remaining - 1 END, updated_at = $1
		WHERE component_appid = $2 AND appid = $3 AND openid = $4 AND template_id = $5 AND (long_term = 1 OR remaining > 0)`,
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

// Consents lists what one user granted a mini program's templates.
func (s *Store) Consents(ctx context.Context, componentAppID, appID, openID string) ([]wxfleet.SubscribeConsent, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT openid, template_id, remaining, long_term, updated_at FROM subscribe_consents
		WHERE component_appid = $1 AND appid = $2 AND openid = $3 ORDER BY template_id`, componentAppID, appID, openID)
	if err != nil {
		return nil, dbErr("list consents", err)
	}
	defer rows.Close()
	var out []wxfleet.SubscribeConsent
	for rows.Next() {
		var c wxfleet.SubscribeConsent
		var long, at int64
		if err := rows.Scan(&c.OpenID, &c.TemplateID, &c.Remaining, &long, &at); err != nil {
			return nil, dbErr("list consents", err)
		}
		c.LongTerm, c.UpdatedAt = long == 1, fromMillis(at)
		out = append(out, c)
	}
	return out, dbErr("list consents", rows.Err())
}
