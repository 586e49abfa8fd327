package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/wxfleet/wxfleet/vault"
)

// Sealed columns, named as their values are bound (table.column).
const (
	colPlatformToken  = "platforms.token_sealed"
	colPlatformAESKey = "platforms.aes_key_sealed"
	colPlatformSecret = "platforms.secret_sealed"
	colTicket         = "tickets.ticket_sealed"
	colComponentToken = "component_tokens.token_sealed"
	colAccessToken    = "authorizers.access_token_sealed"
	colRefreshToken   = "authorizers.refresh_token_sealed"
	colPreAuthCode    = "auth_links.pre_auth_code_sealed"
	colSessionKey     = "runtime_sessions.session_key_sealed"
)

// sealedColumns are every sealed column with the columns of its row key, in
// the order sealAt takes them.
var sealedColumns = []struct {
	column string
	key    []string
}{
	{colPlatformToken, []string{"component_appid"}},
	{colPlatformAESKey, []string{"component_appid"}},
	{colPlatformSecret, []string{"component_appid"}},
	{colTicket, []string{"component_appid"}},
	{colComponentToken, []string{"component_appid"}},
	{colAccessToken, []string{"component_appid", "appid"}},
	{colRefreshToken, []string{"component_appid", "appid"}},
	{colPreAuthCode, []string{"component_appid", "id"}},
	{colSessionKey, []string{"component_appid", "appid", "token_digest"}},
}

// resealLegacy re-seals values written before values were bound to their
// rows ("v1:", see package vault): each is opened and sealed again bound to
// its column and row, in one transaction per column. It runs at every
// Migrate and costs a scan of values starting "v1:" once none is left. A
// value this key cannot open is left alone (and reported by the read that
// needs it).
func (s *Store) resealLegacy(ctx context.Context) (int, error) {
	total := 0
	for _, c := range sealedColumns {
		table, col, _ := strings.Cut(c.column, ".")
		n := 0
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(c.key, ", ")+`, `+col+` FROM `+table+` WHERE `+col+` LIKE 'v1:%'`)
			if err != nil {
				return err
			}
			type legacy struct {
				key    []string
				sealed string
			}
			var todo []legacy
			for rows.Next() {
				l := legacy{key: make([]string, len(c.key))}
				dst := make([]any, 0, len(c.key)+1)
				for i := range l.key {
					dst = append(dst, &l.key[i])
				}
				if err := rows.Scan(append(dst, &l.sealed)...); err != nil {
					rows.Close()
					return err
				}
				todo = append(todo, l)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			where := make([]string, len(c.key))
			for i, k := range c.key {
				where[i] = k + " = $" + strconv.Itoa(i+3)
			}
			for _, l := range todo {
				if !vault.Legacy(l.sealed) {
					continue
				}
				plain, err := s.vault.Open(l.sealed)
				if err != nil {
					continue
				}
				args := []any{s.vault.SealFor(plain, sealedAt(c.column, l.key...)), l.sealed}
				for _, k := range l.key {
					args = append(args, k)
				}
				if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+col+` = $1 WHERE `+col+` = $2 AND `+strings.Join(where, " AND "), args...); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, dbErr("re-seal "+c.column, err)
		}
		total += n
	}
	return total, nil
}
