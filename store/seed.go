package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Demo data at scale (wxfleet demo --seed-tenants N --seed-authorizers N):
// a seeding tool, not a code path of the platform. It writes rows directly,
// in multi-row INSERTs, so that 20,000 tenants and 100,000 authorizers take
// seconds rather than the minutes 100,000 real authorizations would.

// SeedOptions says how much demo data Seed makes.
type SeedOptions struct {
	ComponentAppID string // the platform the seeded authorizers belong to
	Tenants        int    // make tenants until there are this many
	Authorizers    int    // make seeded authorizers until there are this many
	Now            time.Time
}

// SeedResult counts what Seed made.
type SeedResult struct {
	Plans, Tenants, Authorizers int
	Took                        time.Duration
}

// SeedAppIDPrefix starts every seeded authorizer's appid.
const SeedAppIDPrefix = "wxseed"

// seedTags are the tags seeded tenants carry (one region, maybe a kind).
var seedTags = []string{"north", "south", "east", "west"}
var seedKinds = []string{"coffee", "tea", "bakery", "vip", "chain"}

// Seed fills the database with demo tenants on three plans, their
// subscriptions (some ending within 30 days, a few already past their grace
// period, so the expiry policy has work) and seeded authorizers spread over
// the tenants, five a tenant at the scale of the issue. Seeded authorizers
// are placeholders WeChat does not know: their status is revoked, so that
// no token is refreshed and no rollout calls WeChat for them; their merchant
// is "seed". Seed tops up: run again, it makes only what is missing.
func (s *Store) Seed(ctx context.Context, o SeedOptions) (SeedResult, error) {
	began := time.Now()
	var res SeedResult
	plans, err := s.seedPlans(ctx, o.Now, &res)
	if err != nil {
		return res, err
	}
	var have int
	if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants`).Scan(&have); err != nil {
		return res, dbErr("seed", err)
	}
	for have < o.Tenants {
		n := min(o.Tenants-have, 2000)
		if err := s.inTx(ctx, func(tx *sql.Tx) error { return seedTenants(ctx, tx, have, n, plans, o.Now) }); err != nil {
			return res, dbErr("seed tenants", err)
		}
		have += n
		res.Tenants += n
	}
	if o.Authorizers > 0 {
		ids, err := queryAll(ctx, s, "seed", `SELECT id FROM tenants ORDER BY id`, func(row interface{ Scan(...any) error }) (int64, error) {
			var id int64
			return id, row.Scan(&id)
		})
		if err != nil {
			return res, err
		}
		if err := s.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM authorizers WHERE component_appid = $1 AND appid LIKE $2`,
			o.ComponentAppID, SeedAppIDPrefix+"%").Scan(&have); err != nil {
			return res, dbErr("seed", err)
		}
		for have < o.Authorizers {
			n := min(o.Authorizers-have, 5000)
			if err := s.inTx(ctx, func(tx *sql.Tx) error { return seedAuthorizers(ctx, tx, o.ComponentAppID, have, n, ids, o.Now) }); err != nil {
				return res, platformErr("seed authorizers", o.ComponentAppID, err)
			}
			have += n
			res.Authorizers += n
		}
	}
	if s.dialect == DialectPostgres && res.Tenants+res.Authorizers > 0 {
		// Autovacuum would get there, later: until then the planner thinks
		// the tables are as small as they were and picks full scans.
		if _, err := s.write.ExecContext(ctx, `ANALYZE tenants, tenant_tags, subscriptions, authorizers`); err != nil {
			return res, dbErr("seed: analyze", err)
		}
	}
	res.Took = time.Since(began)
	return res, nil
}

// seedPlans makes the three demo plans unless plans exist; it returns the
// plans' ids.
func (s *Store) seedPlans(ctx context.Context, now time.Time, res *SeedResult) ([]int64, error) {
	list, err := s.ListPlans(ctx)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		for _, p := range []wxfleet.Plan{
			{Name: "基础版 Basic", YearlyPrice: 99_900, MaxMiniPrograms: 3, Features: []string{"runtime"}},
			{Name: "标准版 Standard", YearlyPrice: 299_900, MaxMiniPrograms: 10, Features: []string{"runtime", "webhooks"}},
			{Name: "旗舰版 Premium", YearlyPrice: 999_900, Features: []string{"runtime", "webhooks", "gray_release"}},
		} {
			p.CreatedAt, p.UpdatedAt = now, now
			if err := s.CreatePlan(ctx, wxfleet.Scope{}, &p); err != nil {
				return nil, err
			}
			list = append(list, &p)
			res.Plans++
		}
	}
	ids := make([]int64, len(list))
	for i, p := range list {
		ids[i] = p.ID
	}
	return ids, nil
}

// insertRows runs one multi-row INSERT of rows rows of width values.
func insertRows(ctx context.Context, tx *sql.Tx, head string, width int, args []any) error {
	var q strings.Builder
	q.WriteString(head)
	for i := 0; i < len(args)/width; i++ {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(placeholders(i*width+1, width))
	}
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// seedTenants makes tenants from..from+n-1, with tags and subscriptions.
func seedTenants(ctx context.Context, tx *sql.Tx, from, n int, plans []int64, now time.Time) error {
	var maxID int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM tenants`).Scan(&maxID); err != nil {
		return err
	}
	const batch = 500
	for start := from; start < from+n; start += batch {
		end := min(start+batch, from+n)
		args := make([]any, 0, 7*(end-start))
		for i := start; i < end; i++ {
			status := wxfleet.TenantActive
			if i%40 == 39 {
				status = wxfleet.TenantTrial
			}
			args = append(args, fmt.Sprintf("演示商户 Demo merchant %05d", i+1), fmt.Sprintf("138%08d", i+1), string(status),
				plans[i%len(plans)], "{}", toMillis(now), toMillis(now))
		}
		if err := insertRows(ctx, tx, `INSERT INTO tenants (name, contact, status, plan_id, settings, created_at, updated_at) VALUES `, 7, args); err != nil {
			return err
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, status, plan_id FROM tenants WHERE id > $1 ORDER BY id`, maxID)
	if err != nil {
		return err
	}
	type row struct {
		id, plan int64
		status   string
	}
	var made []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.status, &r.plan); err != nil {
			rows.Close()
			return err
		}
		made = append(made, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var tags, subs []any
	day := 24 * time.Hour
	for k, r := range made {
		i := from + k
		tags = append(tags, r.id, seedTags[i%len(seedTags)])
		if i%3 == 0 {
			tags = append(tags, r.id, seedKinds[(i/3)%len(seedKinds)])
		}
		if r.status == string(wxfleet.TenantTrial) {
			continue
		}
		// Terms started over the past year; every 50th ended 10 days ago.
		starts := now.Add(-time.Duration((i*7)%365) * day)
		expires := starts.AddDate(1, 0, 0)
		if i%50 == 49 {
			starts, expires = now.AddDate(-1, 0, -10), now.Add(-10*day)
		}
		subs = append(subs, r.id, r.plan, toMillis(starts), toMillis(expires), 0, toMillis(now))
	}
	for start := 0; start < len(tags); start += 2 * batch {
		if err := insertRows(ctx, tx, `INSERT INTO tenant_tags (tenant_id, tag) VALUES `, 2, tags[start:min(start+2*batch, len(tags))]); err != nil {
			return err
		}
	}
	for start := 0; start < len(subs); start += 6 * batch {
		if err := insertRows(ctx, tx, `INSERT INTO subscriptions (`+subscriptionColumns+`) VALUES `, 6, subs[start:min(start+6*batch, len(subs))]); err != nil {
			return err
		}
	}
	return nil
}

// seedAuthorizers makes seeded authorizers from..from+n-1, spread over the
// tenants (none if there are none).
func seedAuthorizers(ctx context.Context, tx *sql.Tx, componentAppID string, from, n int, tenants []int64, now time.Time) error {
	const batch = 500
	for start := from; start < from+n; start += batch {
		end := min(start+batch, from+n)
		args := make([]any, 0, 9*(end-start))
		for i := start; i < end; i++ {
			var tenant any
			if len(tenants) > 0 {
				tenant = tenants[i%len(tenants)]
			}
			args = append(args, componentAppID, fmt.Sprintf("%s%010d", SeedAppIDPrefix, i+1), fmt.Sprintf("演示小程序 Seeded app %06d", i+1),
				string(wxfleet.StatusRevoked), "[17,18]", "seed", toMillis(now), toMillis(now), tenant)
		}
		if err := insertRows(ctx, tx, `INSERT INTO authorizers (component_appid, appid, nickname, status, permissions, merchant, authorized_at, updated_at, tenant_id) VALUES `,
			9, args); err != nil {
			return err
		}
	}
	return nil
}
