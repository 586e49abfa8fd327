package store_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/vault"
)

// base is a fixed instant with whole milliseconds, as the store keeps them.
var base = time.UnixMilli(1_760_000_000_123).UTC()

// ---- migrations ----

func tableExists(t testing.TB, h *harness, db *sql.DB, table string) bool {
	t.Helper()
	q := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	if h.Dialect() == store.DialectPostgres {
		q = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	}
	var n int
	must(t, db.QueryRowContext(h.ctx, q, table).Scan(&n))
	return n == 1
}

func countRows(t testing.TB, h *harness, db *sql.DB, table string) int {
	t.Helper()
	var n int
	must(t, db.QueryRowContext(h.ctx, "SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

func testMigrate(t *testing.T, h *harness) {
	ok, err := h.MigrationStatus(h.ctx)
	must(t, err)
	if !ok {
		t.Fatal("MigrationStatus false after Migrate")
	}
	db := h.rawDB(t)
	if h.Dialect() == store.DialectPostgres {
		// River's tables must land in the test schema, through search_path.
		var schema string
		must(t, db.QueryRowContext(h.ctx, `SELECT current_schema()`).Scan(&schema))
		if !strings.HasPrefix(schema, "wxfleet_test_") {
			t.Fatalf("raw connection's current_schema is %q, want the test schema", schema)
		}
	}
	for _, table := range []string{"platforms", "tickets", "component_tokens", "leases", "authorizers", "events", "auth_links", "meta", "goose_db_version", "river_job", "river_migration"} {
		if !tableExists(t, h, db, table) {
			t.Errorf("table %s missing after Migrate", table)
		}
	}
	mustPlatform(t, h, "wxkeep")
	gooseRows, riverRows := countRows(t, h, db, "goose_db_version"), countRows(t, h, db, "river_migration")
	if riverRows == 0 {
		t.Fatal("river_migration is empty")
	}

	// Again: a no-op that keeps the data.
	must(t, h.Migrate(h.ctx))
	if g, r := countRows(t, h, db, "goose_db_version"), countRows(t, h, db, "river_migration"); g != gooseRows || r != riverRows {
		t.Fatalf("second Migrate changed the version tables: goose %d→%d, river %d→%d", gooseRows, g, riverRows, r)
	}
	if _, err := h.Platform(h.ctx, "wxkeep"); err != nil {
		t.Fatalf("data lost by second Migrate: %v", err)
	}
	if ok, err := h.MigrationStatus(h.ctx); err != nil || !ok {
		t.Fatalf("MigrationStatus after second Migrate = %v, %v", ok, err)
	}

	// A database never migrated is reported as such.
	fresh, _ := h.backend.open(t, h.vault)
	ok, err = fresh.MigrationStatus(h.ctx)
	must(t, err)
	if ok {
		t.Fatal("MigrationStatus true on an unmigrated database")
	}
}

// testMigrateConcurrently starts instances together on a fresh database: one
// migrates, the others wait for its advisory lock and find nothing left to do.
func testMigrateConcurrently(t *testing.T, h *harness) {
	if h.Dialect() == store.DialectSQLite {
		t.Skip("SQLite serves a single instance: there is no second one to race")
	}
	fresh, raw := h.backend.open(t, h.vault)

	// While another session holds the migration lock (the key is repeated from
	// store/migrate.go), Migrate waits.
	db, err := sql.Open("pgx", raw) // the fresh database's schema, not the harness's
	must(t, err)
	defer db.Close()
	conn, err := db.Conn(h.ctx)
	must(t, err)
	defer conn.Close()
	const key = "hashtext('wxfleet.migrate:' || current_schema())"
	_, err = conn.ExecContext(h.ctx, "SELECT pg_advisory_lock("+key+")")
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- fresh.Migrate(h.ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Migrate ran while another instance held the migration lock (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	_, err = conn.ExecContext(h.ctx, "SELECT pg_advisory_unlock("+key+")")
	must(t, err)
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Migrate did not finish after the lock was released")
	}

	// More instances starting together: all succeed.
	stores := []*store.Store{fresh, h.reopenDSN(t, raw), h.reopenDSN(t, raw)}
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(h.ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: Migrate: %v", i, err)
		}
	}
	if ok, err := fresh.MigrationStatus(h.ctx); err != nil || !ok {
		t.Fatalf("MigrationStatus = %v, %v", ok, err)
	}
}

// ---- platforms and their secrets ----

func testPlatformRoundTrip(t *testing.T, h *harness) {
	_, err := h.Platform(h.ctx, "wxnone")
	wantCode(t, err, wxfleet.ENOTFOUND)
	wantCode(t, h.UpsertPlatform(h.ctx, &wxfleet.Platform{Name: "no appid"}), wxfleet.EINVALID)

	a := mustPlatform(t, h, "wxA")
	got, err := h.Platform(h.ctx, "wxA")
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("Platform = %#v\nwant %#v (secrets: %q %q %q)", got, a, got.Token.Reveal(), got.AESKey.Reveal(), got.Secret.Reveal())
	}

	a.Name, a.Secret, a.Token = "改名", "rotated-secret", ""
	must(t, h.UpsertPlatform(h.ctx, a))
	got, err = h.Platform(h.ctx, "wxA")
	must(t, err)
	if got.Name != "改名" || got.Secret.Reveal() != "rotated-secret" || got.Token != "" || got.AESKey != a.AESKey {
		t.Fatalf("after update: %+v (secret %q)", got, got.Secret.Reveal())
	}

	b := mustPlatform(t, h, "wxB")
	all, err := h.Platforms(h.ctx)
	must(t, err)
	if len(all) != 2 || all[0].AppID != "wxA" || all[1].AppID != "wxB" || all[1].Secret != b.Secret {
		t.Fatalf("Platforms = %+v", all)
	}
}

func testSecretsSealedAtRest(t *testing.T, h *harness) {
	secrets := []string{
		"PLAIN-platform-token-7f3a", "PLAIN-aes-key-0123456789abcdefghijklmnopqrstuvw", "PLAIN-app-secret-91c2",
		"PLAIN-ticket-ticket@@@x1", "PLAIN-component-access-token-55",
		"PLAIN-authorizer-access-1", "PLAIN-authorizer-refresh-1",
		"PLAIN-authorizer-access-2", "PLAIN-authorizer-refresh-2",
	}
	must(t, h.UpsertPlatform(h.ctx, &wxfleet.Platform{AppID: "wxA", Name: "A",
		Token: wxfleet.Secret(secrets[0]), AESKey: wxfleet.Secret(secrets[1]), Secret: wxfleet.Secret(secrets[2])}))
	must(t, h.SaveTicket(h.ctx, &wxfleet.Ticket{ComponentAppID: "wxA", Value: wxfleet.Secret(secrets[3]), CreateTime: base, ReceivedAt: base}))
	must(t, h.SaveComponentToken(h.ctx, "wxA", wxfleet.Token{Value: wxfleet.Secret(secrets[4]), ExpiresAt: base.Add(2 * time.Hour)}))
	a := fullAuthorizer("wxA", "wxapp1")
	a.AccessToken, a.RefreshToken = wxfleet.Secret(secrets[5]), wxfleet.Secret(secrets[6])
	must(t, h.UpsertAuthorizer(h.ctx, a))
	b := fullAuthorizer("wxA", "wxapp2")
	b.AccessToken, b.RefreshToken = "", ""
	must(t, h.UpsertAuthorizer(h.ctx, b))
	must(t, h.SaveAuthorizerToken(h.ctx, "wxA", "wxapp2", wxfleet.Token{Value: wxfleet.Secret(secrets[7]), ExpiresAt: base}, wxfleet.Secret(secrets[8])))

	// Through the store, everything opens.
	got, err := h.Authorizer(h.ctx, "wxA", "wxapp2")
	must(t, err)
	if got.AccessToken.Reveal() != secrets[7] || got.RefreshToken.Reveal() != secrets[8] {
		t.Fatal("secrets do not round-trip through the store")
	}

	// Underneath, none is there in plaintext, and the sealed columns hold sealed text.
	db := h.rawDB(t)
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if h.Dialect() == store.DialectPostgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.QueryContext(h.ctx, q)
	must(t, err)
	var tables []string
	for rows.Next() {
		var name string
		must(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	must(t, rows.Err())
	rows.Close()
	if !slices.Contains(tables, "authorizers") || !slices.Contains(tables, "platforms") {
		t.Fatalf("tables listed: %v", tables)
	}
	sealedCells := 0
	for _, table := range tables {
		rows, err := db.QueryContext(h.ctx, "SELECT * FROM "+table)
		must(t, err)
		cols, err := rows.Columns()
		must(t, err)
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			must(t, rows.Scan(ptrs...))
			for i, v := range vals {
				text := cellText(v)
				for _, sec := range secrets {
					if strings.Contains(text, sec) {
						t.Errorf("%s.%s holds the plaintext secret %q", table, cols[i], sec)
					}
				}
				if strings.HasSuffix(cols[i], "_sealed") && text != "" {
					if !strings.HasPrefix(text, "v2:"+h.vault.KeyID()+":") {
						t.Errorf("%s.%s is not sealed: %q", table, cols[i], text)
					}
					sealedCells++
				}
			}
		}
		must(t, rows.Err())
		rows.Close()
	}
	// 3 platform secrets, ticket, component token, 2 × (access, refresh).
	if sealedCells != 9 {
		t.Fatalf("saw %d sealed cells, want 9: the scan did not cover the data", sealedCells)
	}
}

func cellText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(v)
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

func testWrongVaultKey(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	other := h.reopen(t, newVault(t))
	_, err := other.Platform(h.ctx, "wxA")
	if err == nil {
		t.Fatal("a store with another vault key opened the secrets")
	}
	wantCode(t, err, wxfleet.EINTERNAL)
	if strings.Contains(err.Error(), "sec-wxA") {
		t.Fatalf("error leaks the secret: %v", err)
	}
	same := h.reopen(t, h.vault)
	if p, err := same.Platform(h.ctx, "wxA"); err != nil || p.Secret.Reveal() != "sec-wxA" {
		t.Fatalf("reopen with the same key: %v, %v", p, err)
	}
}

// ---- tickets and component tokens ----

func testTicketNewestWins(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	_, err := h.Ticket(h.ctx, "wxA")
	wantCode(t, err, wxfleet.ENOTFOUND)
	wantCode(t, h.SaveTicket(h.ctx, &wxfleet.Ticket{ComponentAppID: "wxNOPE", Value: "t", CreateTime: base}), wxfleet.ENOTFOUND)

	older := &wxfleet.Ticket{ComponentAppID: "wxA", Value: "ticket-older", CreateTime: base, ReceivedAt: base.Add(time.Second)}
	newer := &wxfleet.Ticket{ComponentAppID: "wxA", Value: "ticket-newer", CreateTime: base.Add(10 * time.Minute), ReceivedAt: base.Add(10*time.Minute + time.Second)}
	must(t, h.SaveTicket(h.ctx, older))
	must(t, h.SaveTicket(h.ctx, newer))
	// The older push arrives again, late.
	late := *older
	late.ReceivedAt = base.Add(11 * time.Minute)
	must(t, h.SaveTicket(h.ctx, &late))

	got, err := h.Ticket(h.ctx, "wxA")
	must(t, err)
	if !reflect.DeepEqual(got, newer) {
		t.Fatalf("Ticket = %+v (%q), want the newer %+v", got, got.Value.Reveal(), newer)
	}
	if !got.ValidAt(base.Add(time.Hour)) {
		t.Fatal("ticket not valid an hour later")
	}

	// A strictly newer one replaces it.
	newest := &wxfleet.Ticket{ComponentAppID: "wxA", Value: "ticket-newest", CreateTime: base.Add(20 * time.Minute), ReceivedAt: base.Add(20 * time.Minute)}
	must(t, h.SaveTicket(h.ctx, newest))
	got, err = h.Ticket(h.ctx, "wxA")
	must(t, err)
	if got.Value.Reveal() != "ticket-newest" {
		t.Fatalf("Ticket = %q, want ticket-newest", got.Value.Reveal())
	}
}

func testComponentToken(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	_, err := h.ComponentToken(h.ctx, "wxA")
	wantCode(t, err, wxfleet.ENOTFOUND)
	wantCode(t, h.SaveComponentToken(h.ctx, "wxNOPE", wxfleet.Token{Value: "x", ExpiresAt: base}), wxfleet.ENOTFOUND)

	tok := wxfleet.Token{Value: "component-token-1", ExpiresAt: base.Add(2 * time.Hour)}
	must(t, h.SaveComponentToken(h.ctx, "wxA", tok))
	got, err := h.ComponentToken(h.ctx, "wxA")
	must(t, err)
	if *got != tok {
		t.Fatalf("ComponentToken = %+v, want %+v", got, tok)
	}
	tok2 := wxfleet.Token{Value: "component-token-2", ExpiresAt: base.Add(4 * time.Hour)}
	must(t, h.SaveComponentToken(h.ctx, "wxA", tok2))
	got, err = h.ComponentToken(h.ctx, "wxA")
	must(t, err)
	if *got != tok2 {
		t.Fatalf("after overwrite ComponentToken = %+v, want %+v", got, tok2)
	}
	_, err = h.ComponentToken(h.ctx, "wxB")
	wantCode(t, err, wxfleet.ENOTFOUND)
}

// ---- leases ----

func testLease(t *testing.T, h *harness) {
	const name = "component_token:wxA"
	acquire := func(owner string, at time.Duration) bool {
		t.Helper()
		ok, err := h.AcquireLease(h.ctx, name, owner, 30*time.Second, base.Add(at))
		must(t, err)
		return ok
	}
	if !acquire("a", 0) {
		t.Fatal("a could not take a free lease")
	}
	if acquire("b", 10*time.Second) {
		t.Fatal("b took a's lease before it expired")
	}
	if !acquire("a", 20*time.Second) { // extends to +50s
		t.Fatal("a could not re-acquire its own lease")
	}
	if acquire("b", 40*time.Second) {
		t.Fatal("b took a's lease, which a had extended")
	}
	if !acquire("b", 50*time.Second) {
		t.Fatal("b could not take the lease once expired")
	}
	if acquire("a", 51*time.Second) {
		t.Fatal("a took the lease back from b")
	}
	// Releasing someone else's lease does nothing.
	must(t, h.ReleaseLease(h.ctx, name, "a"))
	if acquire("c", 52*time.Second) {
		t.Fatal("c took b's lease after a released it")
	}
	must(t, h.ReleaseLease(h.ctx, name, "b"))
	if !acquire("c", 52*time.Second) {
		t.Fatal("c could not take the lease b released")
	}
	// Other names are independent.
	ok, err := h.AcquireLease(h.ctx, "component_token:wxB", "a", time.Minute, base.Add(52*time.Second))
	must(t, err)
	if !ok {
		t.Fatal("a lease on another name was refused")
	}
	_, err = h.AcquireLease(h.ctx, name, "a", 0, base)
	wantCode(t, err, wxfleet.EINVALID)
}

func testLeaseRace(t *testing.T, h *harness) {
	const n = 12
	var wg sync.WaitGroup
	results := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = h.AcquireLease(h.ctx, "race", fmt.Sprintf("owner-%d", i), time.Minute, base)
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i := range n {
		must(t, errs[i])
		if results[i] {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d owners acquired the same lease", won)
	}
}

// ---- authorizers ----

func fullAuthorizer(componentAppID, appID string) *wxfleet.Authorizer {
	return &wxfleet.Authorizer{
		ComponentAppID: componentAppID,
		AppID:          appID,
		Nickname:       "小程序 " + appID,
		HeadImg:        "https://example.invalid/" + appID + ".png",
		UserName:       "gh_" + appID,
		PrincipalName:  "某某有限公司",
		Signature:      "签名",
		IsMiniProgram:  true,
		Status:         wxfleet.StatusAuthorized,
		Permissions:    []int{17, 18, 25, 30},
		AccessToken:    wxfleet.Secret("access-" + appID),
		TokenExpiresAt: base.Add(2 * time.Hour),
		RefreshToken:   wxfleet.Secret("refresh-" + appID),
		Merchant:       "merchant-42",
		AuthorizedAt:   base.Add(-time.Hour),
		UpdatedAt:      base,
		Info:           []byte(`{"nick_name":"小程序","service_type_info":{"id":0}}`),
	}
}

func testAuthorizerRoundTrip(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	a := fullAuthorizer("wxA", "wxapp1")
	must(t, h.UpsertAuthorizer(h.ctx, a))
	got, err := h.Authorizer(h.ctx, "wxA", "wxapp1")
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("Authorizer =\n%+v\nwant\n%+v", got, a)
	}

	// Overwrite everything, emptying what can be empty.
	b := &wxfleet.Authorizer{ComponentAppID: "wxA", AppID: "wxapp1", Status: wxfleet.StatusRevoked,
		Nickname: "new", RefreshToken: "refresh-new", UpdatedAt: base.Add(time.Hour)}
	must(t, h.UpsertAuthorizer(h.ctx, b))
	got, err = h.Authorizer(h.ctx, "wxA", "wxapp1")
	must(t, err)
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("after overwrite Authorizer =\n%+v\nwant\n%+v", got, b)
	}

	wantCode(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxNOPE", "wxapp1")), wxfleet.ENOTFOUND)
	bad := fullAuthorizer("wxA", "wxapp2")
	bad.Status = "enabled"
	wantCode(t, h.UpsertAuthorizer(h.ctx, bad), wxfleet.EINVALID)
	_, err = h.Authorizer(h.ctx, "wxA", "wxapp2")
	wantCode(t, err, wxfleet.ENOTFOUND)
}

func testAuthorizerList(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	var want, wantRevoked []string
	for i := range 25 {
		a := fullAuthorizer("wxA", fmt.Sprintf("wxapp%02d", i))
		if i%3 == 0 {
			a.Status = wxfleet.StatusRevoked
			wantRevoked = append(wantRevoked, a.AppID)
		}
		want = append(want, a.AppID)
		must(t, h.UpsertAuthorizer(h.ctx, a))
	}
	for i := range 4 { // same appids under B must not show up under A
		must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxB", fmt.Sprintf("wxapp%02d", i))))
	}
	must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxB", "wxonlyb")))

	page := func(f store.AuthorizerFilter) []string {
		t.Helper()
		var got []string
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("paging does not end: cursor %q", f.Cursor)
			}
			as, total, err := h.ListAuthorizers(h.ctx, "wxA", f)
			must(t, err)
			wantTotal := len(want)
			if f.Status == wxfleet.StatusRevoked {
				wantTotal = len(wantRevoked)
			}
			if total != wantTotal {
				t.Fatalf("total %d, want %d", total, wantTotal)
			}
			if len(as) > f.Limit {
				t.Fatalf("page of %d exceeds limit %d", len(as), f.Limit)
			}
			if len(as) == 0 {
				return got
			}
			for _, a := range as {
				if a.ComponentAppID != "wxA" {
					t.Fatalf("ListAuthorizers(wxA) returned %s/%s", a.ComponentAppID, a.AppID)
				}
				if f.Status != "" && a.Status != f.Status {
					t.Fatalf("status filter %q returned %q", f.Status, a.Status)
				}
				got = append(got, a.AppID)
			}
			f.Cursor = as[len(as)-1].AppID
		}
	}
	if got := page(store.AuthorizerFilter{Limit: 7, Total: true}); !slices.Equal(got, want) {
		t.Fatalf("paged appids = %v\nwant %v", got, want)
	}
	if got := page(store.AuthorizerFilter{Limit: 2, Status: wxfleet.StatusRevoked, Total: true}); !slices.Equal(got, wantRevoked) {
		t.Fatalf("revoked appids = %v\nwant %v", got, wantRevoked)
	}
	all, total, err := h.ListAuthorizers(h.ctx, "wxA", store.AuthorizerFilter{Total: true})
	must(t, err)
	if len(all) != 25 || total != 25 {
		t.Fatalf("default limit: %d items, total %d", len(all), total)
	}
	// Not asked for, the total is not counted: -1, never a wrong number.
	uncounted, total, err := h.ListAuthorizers(h.ctx, "wxA", store.AuthorizerFilter{})
	must(t, err)
	if len(uncounted) != 25 || total != -1 || !slices.EqualFunc(uncounted, all, func(a, b *wxfleet.Authorizer) bool { return a.AppID == b.AppID }) {
		t.Fatalf("without Total: %d items, total %d", len(uncounted), total)
	}
	if !reflect.DeepEqual(all[1], fullAuthorizer("wxA", "wxapp01")) {
		t.Fatalf("listed authorizer differs from stored: %+v", all[1])
	}
	none, total, err := h.ListAuthorizers(h.ctx, "wxA", store.AuthorizerFilter{Status: wxfleet.StatusPending, Total: true})
	must(t, err)
	if len(none) != 0 || total != 0 {
		t.Fatalf("pending: %d items, total %d", len(none), total)
	}
	// Found by tag, by appid, by a part of the name or principal.
	noodles := fullAuthorizer("wxA", "wxnoodles")
	noodles.Nickname, noodles.PrincipalName = "兰州拉面 Noodles", "面馆 50%_off 有限公司"
	must(t, h.UpsertAuthorizer(h.ctx, noodles))
	must(t, h.SetAuthorizerTags(h.ctx, "wxA", "wxapp03", []string{"vip"}))
	must(t, h.SetAuthorizerTags(h.ctx, "wxA", "wxnoodles", []string{"vip", "north"}))
	must(t, h.SetAuthorizerTags(h.ctx, "wxB", "wxapp01", []string{"vip"}))
	for _, c := range []struct {
		f    store.AuthorizerFilter
		want []string
	}{
		{store.AuthorizerFilter{Tag: "vip"}, []string{"wxapp03", "wxnoodles"}},
		{store.AuthorizerFilter{Tag: "north"}, []string{"wxnoodles"}},
		{store.AuthorizerFilter{Tag: "none"}, nil},
		{store.AuthorizerFilter{Query: "wxapp07"}, []string{"wxapp07"}},
		{store.AuthorizerFilter{Query: "noodles"}, []string{"wxnoodles"}},
		{store.AuthorizerFilter{Query: " 拉面 "}, []string{"wxnoodles"}},
		{store.AuthorizerFilter{Query: "50%_"}, []string{"wxnoodles"}},
		{store.AuthorizerFilter{Query: "%"}, []string{"wxnoodles"}}, // a literal percent sign, not a wildcard
		{store.AuthorizerFilter{Query: "面馆"}, []string{"wxnoodles"}},
		{store.AuthorizerFilter{Query: "wxonlyb"}, nil},
		{store.AuthorizerFilter{Query: "APP1"}, []string{"wxapp10", "wxapp11", "wxapp12", "wxapp13", "wxapp14", "wxapp15", "wxapp16", "wxapp17", "wxapp18", "wxapp19"}},
		{store.AuthorizerFilter{Query: "有限公司", Tag: "vip"}, []string{"wxapp03", "wxnoodles"}},
		{store.AuthorizerFilter{Query: "小程序", Tag: "vip"}, []string{"wxapp03"}},
		{store.AuthorizerFilter{Query: "wxapp03", Tag: "north"}, nil},
	} {
		c.f.Limit, c.f.Total = 100, true
		list, total, err := h.ListAuthorizers(h.ctx, "wxA", c.f)
		must(t, err)
		var got []string
		for _, a := range list {
			got = append(got, a.AppID)
		}
		if !slices.Equal(got, c.want) || total != len(c.want) {
			t.Errorf("ListAuthorizers(%+v) = %v (total %d), want %v", c.f, got, total, c.want)
		}
	}

	plats, err := h.AuthorizerPlatforms(h.ctx, "wxapp01")
	must(t, err)
	if !slices.Equal(plats, []string{"wxA", "wxB"}) {
		t.Fatalf("AuthorizerPlatforms(wxapp01) = %v", plats)
	}
	plats, err = h.AuthorizerPlatforms(h.ctx, "wxonlyb")
	must(t, err)
	if !slices.Equal(plats, []string{"wxB"}) {
		t.Fatalf("AuthorizerPlatforms(wxonlyb) = %v", plats)
	}
	plats, err = h.AuthorizerPlatforms(h.ctx, "wxnobody")
	must(t, err)
	if len(plats) != 0 {
		t.Fatalf("AuthorizerPlatforms(wxnobody) = %v", plats)
	}
}

func testAuthorizerCrossTenant(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	a := fullAuthorizer("wxA", "wxapp1")
	must(t, h.UpsertAuthorizer(h.ctx, a))

	_, err := h.Authorizer(h.ctx, "wxB", "wxapp1")
	wantCode(t, err, wxfleet.ENOTFOUND)
	wantCode(t, h.SaveAuthorizerToken(h.ctx, "wxB", "wxapp1", wxfleet.Token{Value: "stolen", ExpiresAt: base}, "stolen-refresh"), wxfleet.ENOTFOUND)
	wantCode(t, h.SetAuthorizerStatus(h.ctx, "wxB", "wxapp1", wxfleet.StatusRevoked, base), wxfleet.ENOTFOUND)
	list, total, err := h.ListAuthorizers(h.ctx, "wxB", store.AuthorizerFilter{Total: true})
	must(t, err)
	if len(list) != 0 || total != 0 {
		t.Fatalf("platform B lists A's authorizer: %d, total %d", len(list), total)
	}
	got, err := h.Authorizer(h.ctx, "wxA", "wxapp1")
	must(t, err)
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("A's authorizer changed by writes under B: %+v", got)
	}
}

func testSaveAuthorizerToken(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxA", "wxapp1")))
	onB := fullAuthorizer("wxB", "wxapp1") // the same mini program under another platform
	must(t, h.UpsertAuthorizer(h.ctx, onB))

	tok := wxfleet.Token{Value: "access-2", ExpiresAt: base.Add(3 * time.Hour)}
	must(t, h.SaveAuthorizerToken(h.ctx, "wxA", "wxapp1", tok, "refresh-2"))
	got, err := h.Authorizer(h.ctx, "wxA", "wxapp1")
	must(t, err)
	if got.AccessToken.Reveal() != "access-2" || !got.TokenExpiresAt.Equal(tok.ExpiresAt) || got.RefreshToken.Reveal() != "refresh-2" {
		t.Fatalf("after rotation: access %q exp %v refresh %q", got.AccessToken.Reveal(), got.TokenExpiresAt, got.RefreshToken.Reveal())
	}
	if got.Nickname != "小程序 wxapp1" || got.Status != wxfleet.StatusAuthorized {
		t.Fatalf("SaveAuthorizerToken touched other columns: %+v", got)
	}

	// No new refresh token: keep the stored one.
	tok3 := wxfleet.Token{Value: "access-3", ExpiresAt: base.Add(5 * time.Hour)}
	must(t, h.SaveAuthorizerToken(h.ctx, "wxA", "wxapp1", tok3, ""))
	got, err = h.Authorizer(h.ctx, "wxA", "wxapp1")
	must(t, err)
	if got.AccessToken.Reveal() != "access-3" || !got.TokenExpiresAt.Equal(tok3.ExpiresAt) || got.RefreshToken.Reveal() != "refresh-2" {
		t.Fatalf("after refresh without rotation: access %q exp %v refresh %q", got.AccessToken.Reveal(), got.TokenExpiresAt, got.RefreshToken.Reveal())
	}

	// The same appid under B is untouched.
	gotB, err := h.Authorizer(h.ctx, "wxB", "wxapp1")
	must(t, err)
	if !reflect.DeepEqual(gotB, onB) {
		t.Fatalf("B's row changed: %+v", gotB)
	}

	wantCode(t, h.SaveAuthorizerToken(h.ctx, "wxA", "wxnobody", tok, "r"), wxfleet.ENOTFOUND)
	wantCode(t, h.SaveAuthorizerToken(h.ctx, "wxA", "wxapp1", wxfleet.Token{}, "r"), wxfleet.EINVALID)
}

func testSetAuthorizerStatus(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	must(t, h.UpsertAuthorizer(h.ctx, fullAuthorizer("wxA", "wxapp1")))
	now := base.Add(time.Hour)
	must(t, h.SetAuthorizerStatus(h.ctx, "wxA", "wxapp1", wxfleet.StatusReauthorizationNeeded, now))
	got, err := h.Authorizer(h.ctx, "wxA", "wxapp1")
	must(t, err)
	if got.Status != wxfleet.StatusReauthorizationNeeded || !got.UpdatedAt.Equal(now) {
		t.Fatalf("status %q updated %v", got.Status, got.UpdatedAt)
	}
	if got.RefreshToken.Reveal() != "refresh-wxapp1" {
		t.Fatal("SetAuthorizerStatus lost the refresh token")
	}
	wantCode(t, h.SetAuthorizerStatus(h.ctx, "wxA", "wxapp1", "bogus", now), wxfleet.EINVALID)
	wantCode(t, h.SetAuthorizerStatus(h.ctx, "wxA", "wxnobody", wxfleet.StatusRevoked, now), wxfleet.ENOTFOUND)
}

func testAuthorizersDue(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	add := func(comp, app string, status wxfleet.AuthorizerStatus, exp time.Duration) {
		t.Helper()
		a := fullAuthorizer(comp, app)
		a.Status, a.TokenExpiresAt = status, base.Add(exp)
		must(t, h.UpsertAuthorizer(h.ctx, a))
	}
	add("wxA", "app1", wxfleet.StatusAuthorized, time.Hour)
	add("wxA", "app2", wxfleet.StatusAuthorized, 10*time.Minute)
	add("wxA", "app3", wxfleet.StatusRevoked, -time.Hour)
	add("wxA", "app4", wxfleet.StatusAuthorized, 3*time.Hour)
	add("wxB", "app1", wxfleet.StatusAuthorized, 5*time.Minute)
	add("wxB", "app5", wxfleet.StatusPending, -time.Hour)
	add("wxB", "app6", wxfleet.StatusReauthorizationNeeded, -time.Hour)
	add("wxB", "app7", wxfleet.StatusAuthorized, 2*time.Hour) // exactly at the bound: not due

	due, err := h.AuthorizersDue(h.ctx, base.Add(2*time.Hour), 100)
	must(t, err)
	want := []store.AuthorizerRef{
		{ComponentAppID: "wxB", AppID: "app1", TokenExpiresAt: base.Add(5 * time.Minute)},
		{ComponentAppID: "wxA", AppID: "app2", TokenExpiresAt: base.Add(10 * time.Minute)},
		{ComponentAppID: "wxA", AppID: "app1", TokenExpiresAt: base.Add(time.Hour)},
	}
	if !reflect.DeepEqual(due, want) {
		t.Fatalf("AuthorizersDue = %+v\nwant %+v", due, want)
	}
	due, err = h.AuthorizersDue(h.ctx, base.Add(2*time.Hour), 2)
	must(t, err)
	if !reflect.DeepEqual(due, want[:2]) {
		t.Fatalf("AuthorizersDue limit 2 = %+v", due)
	}
	due, err = h.AuthorizersDue(h.ctx, base, 100)
	must(t, err)
	if len(due) != 0 {
		t.Fatalf("nothing expires before base, got %+v", due)
	}
	// A revoked authorizer comes back once authorized again.
	must(t, h.SetAuthorizerStatus(h.ctx, "wxA", "app3", wxfleet.StatusAuthorized, base))
	due, err = h.AuthorizersDue(h.ctx, base, 100)
	must(t, err)
	if len(due) != 1 || due[0].AppID != "app3" {
		t.Fatalf("after re-authorization: %+v", due)
	}

	assertDueUsesIndex(t, h)
}

// assertDueUsesIndex checks that AuthorizersDue's query (repeated here) can be
// answered from the authorizers_due index rather than a scan of 100k rows.
func assertDueUsesIndex(t *testing.T, h *harness) {
	const q = `SELECT component_appid, appid, token_expires_at FROM authorizers
		WHERE status = $1 AND token_expires_at < $2
		ORDER BY token_expires_at, component_appid, appid
		LIMIT $3`
	db := h.rawDB(t)
	var plan strings.Builder
	if h.Dialect() == store.DialectPostgres {
		// Tiny tables make a seq scan cheapest; forbid it to see that the index applies.
		conn, err := db.Conn(h.ctx)
		must(t, err)
		defer conn.Close()
		_, err = conn.ExecContext(h.ctx, `SET enable_seqscan = off`)
		must(t, err)
		rows, err := conn.QueryContext(h.ctx, `EXPLAIN `+strings.NewReplacer("$1", "'authorized'", "$2", "0", "$3", "10").Replace(q))
		must(t, err)
		for rows.Next() {
			var line string
			must(t, rows.Scan(&line))
			plan.WriteString(line + "\n")
		}
		rows.Close()
		if !strings.Contains(plan.String(), "authorizers_due") || strings.Contains(plan.String(), "Sort") {
			t.Fatalf("AuthorizersDue does not use authorizers_due in order:\n%s", plan.String())
		}
		return
	}
	rows, err := db.QueryContext(h.ctx, `EXPLAIN QUERY PLAN `+q, wxfleet.StatusAuthorized, 0, 10)
	must(t, err)
	for rows.Next() {
		var id, parent, notused int
		var detail string
		must(t, rows.Scan(&id, &parent, &notused, &detail))
		plan.WriteString(detail + "\n")
	}
	rows.Close()
	if !strings.Contains(plan.String(), "COVERING INDEX authorizers_due") || strings.Contains(plan.String(), "TEMP B-TREE") {
		t.Fatalf("AuthorizersDue does not use authorizers_due in order:\n%s", plan.String())
	}
}

// ---- events ----

func ev(comp, app, typ, key string, payload string) *wxfleet.Event {
	return &wxfleet.Event{ComponentAppID: comp, AppID: app, Type: typ, DedupKey: key,
		CreateTime: base, ReceivedAt: base.Add(time.Second), Payload: []byte(payload)}
}

func testInsertEvents(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")

	ins, err := h.InsertEvents(h.ctx, nil)
	if err != nil || len(ins) != 0 {
		t.Fatalf("empty batch: %v, %v", ins, err)
	}

	b1 := []*wxfleet.Event{
		ev("wxA", "", "component_verify_ticket", "k1", "<xml>first</xml>"),
		ev("wxA", "wxapp1", "event.weapp_audit_success", "k2", "<xml>2</xml>"),
		ev("wxA", "", "component_verify_ticket", "k1", "<xml>retry, other payload</xml>"), // in-batch duplicate
		ev("wxB", "", "component_verify_ticket", "k1", "<xml>B</xml>"),                    // same key, other platform
		ev("wxA", "wxapp2", "text", "k3", "\x00\xff binary \xfe"),                         // not UTF-8: stored as is
	}
	b1[4].CreateTime = time.Time{}
	ins, err = h.InsertEvents(h.ctx, b1)
	must(t, err)
	if want := []bool{true, true, false, true, true}; !slices.Equal(ins, want) {
		t.Fatalf("batch 1 inserted = %v, want %v", ins, want)
	}
	if b1[0].ID == 0 || b1[2].ID != b1[0].ID {
		t.Fatalf("in-batch duplicate id %d, original %d", b1[2].ID, b1[0].ID)
	}
	ids := map[int64]bool{}
	for _, i := range []int{0, 1, 3, 4} {
		if ids[b1[i].ID] || b1[i].ID == 0 {
			t.Fatalf("ids not distinct: %d", b1[i].ID)
		}
		ids[b1[i].ID] = true
	}

	b2 := []*wxfleet.Event{
		ev("wxA", "wxapp1", "event.weapp_audit_success", "k2", "<xml>2 again</xml>"), // cross-batch duplicate
		{ComponentAppID: "wxA", Type: "x", DedupKey: "k4"},                           // no payload, no times
		ev("wxB", "", "component_verify_ticket", "k1", "<xml>B again</xml>"),
		ev("wxB", "", "component_verify_ticket", "k1", "<xml>B again again</xml>"),
	}
	ins, err = h.InsertEvents(h.ctx, b2)
	must(t, err)
	if want := []bool{false, true, false, false}; !slices.Equal(ins, want) {
		t.Fatalf("batch 2 inserted = %v, want %v", ins, want)
	}
	if b2[0].ID != b1[1].ID || b2[2].ID != b1[3].ID || b2[3].ID != b1[3].ID || ids[b2[1].ID] || b2[1].ID == 0 {
		t.Fatalf("batch 2 ids %d %d %d %d; originals %d %d", b2[0].ID, b2[1].ID, b2[2].ID, b2[3].ID, b1[1].ID, b1[3].ID)
	}

	// Stored as given, the first occurrence winning.
	for _, want := range []*wxfleet.Event{b1[0], b1[1], b1[3], b1[4], b2[1]} {
		got, err := h.Event(h.ctx, want.ComponentAppID, want.ID)
		must(t, err)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Event(%s, %d) =\n%+v\nwant\n%+v", want.ComponentAppID, want.ID, got, want)
		}
	}
	_, err = h.Event(h.ctx, "wxB", b1[0].ID)
	wantCode(t, err, wxfleet.ENOTFOUND)

	_, err = h.InsertEvents(h.ctx, []*wxfleet.Event{ev("wxA", "", "t", "", "no key")})
	wantCode(t, err, wxfleet.EINVALID)
}

func testAddEvents(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	must(t, h.AddEvents(h.ctx, nil))
	_, err := h.InsertEvents(h.ctx, []*wxfleet.Event{ev("wxA", "wxapp1", "text", "k1", "<xml>first</xml>")})
	must(t, err)
	var batch []*wxfleet.Event
	for i := range 150 { // more than one 64-row chunk
		batch = append(batch, ev("wxA", "wxapp1", "text", fmt.Sprintf("k%d", i), fmt.Sprintf("<xml>%d</xml>", i)))
	}
	batch = append(batch, ev("wxA", "wxapp1", "text", "k7", "<xml>retry</xml>"))
	must(t, h.AddEvents(h.ctx, batch))
	list, total, err := h.ListEvents(h.ctx, "wxA", store.EventFilter{Limit: 1000})
	must(t, err)
	if total != 150 || len(list) != 150 {
		t.Fatalf("stored %d events (total %d), want 150: each key once", len(list), total)
	}
	for _, e := range list {
		if e.DedupKey == "k1" && string(e.Payload) != "<xml>first</xml>" {
			t.Fatalf("k1 payload %q: the stored row must win", e.Payload)
		}
		if e.DedupKey == "k7" && string(e.Payload) != "<xml>7</xml>" {
			t.Fatalf("k7 payload %q: the first in the batch must win", e.Payload)
		}
	}
	wantCode(t, h.AddEvents(h.ctx, []*wxfleet.Event{ev("wxA", "", "t", "", "no key")}), wxfleet.EINVALID)
	wantCode(t, h.AddEvents(h.ctx, []*wxfleet.Event{ev("wxNope", "", "t", "k", "x")}), wxfleet.ENOTFOUND)
}

func testRecentEventKeys(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	var batch []*wxfleet.Event
	for i := range 6 {
		e := ev("wxA", "", "t", fmt.Sprintf("k%d", i), "x")
		if i%2 == 1 {
			e.ComponentAppID = "wxB"
		}
		e.ReceivedAt = base.Add(time.Duration(i) * time.Minute)
		batch = append(batch, e)
	}
	_, err := h.InsertEvents(h.ctx, batch)
	must(t, err)
	keys, err := h.RecentEventKeys(h.ctx, base.Add(3*time.Minute), 100)
	must(t, err)
	if want := []string{"wxB\x00k5", "wxA\x00k4", "wxB\x00k3"}; !slices.Equal(keys, want) {
		t.Fatalf("recent keys = %q, want %q (newest first, stopping at the first older one)", keys, want)
	}
	keys, err = h.RecentEventKeys(h.ctx, base, 2)
	must(t, err)
	if len(keys) != 2 {
		t.Fatalf("limit 2 gave %d keys", len(keys))
	}
}

func testInsertEventsLargeBatch(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	// Some keys stored before.
	pre := []*wxfleet.Event{ev("wxA", "", "t", "key-0", "pre"), ev("wxA", "", "t", "key-150", "pre")}
	_, err := h.InsertEvents(h.ctx, pre)
	must(t, err)

	// 300 events over 5 chunks, repeats reaching across chunk boundaries.
	var evs []*wxfleet.Event
	for i := range 300 {
		k := i
		if i%4 == 3 {
			k = i - 70 // repeat of an earlier event (a later one when negative → fresh)
		}
		evs = append(evs, ev("wxA", "", "t", fmt.Sprintf("key-%d", k), fmt.Sprintf("payload-%d", i)))
	}
	ins, err := h.InsertEvents(h.ctx, evs)
	must(t, err)

	firstID := map[string]int64{"key-0": pre[0].ID, "key-150": pre[1].ID}
	seen := map[int64]bool{}
	newCount := 0
	for i, e := range evs {
		id, dup := firstID[e.DedupKey]
		if ins[i] == dup {
			t.Fatalf("event %d (%s): inserted %v, but duplicate %v", i, e.DedupKey, ins[i], dup)
		}
		if dup && e.ID != id {
			t.Fatalf("event %d (%s): id %d, want the original's %d", i, e.DedupKey, e.ID, id)
		}
		if !dup {
			if e.ID == 0 || seen[e.ID] {
				t.Fatalf("event %d: id %d zero or reused", i, e.ID)
			}
			seen[e.ID] = true
			firstID[e.DedupKey] = e.ID
			newCount++
		}
	}
	_, total, err := h.ListEvents(h.ctx, "wxA", store.EventFilter{Limit: 1})
	must(t, err)
	if total != newCount+len(pre) {
		t.Fatalf("stored %d events, want %d", total, newCount+len(pre))
	}
	got, err := h.Event(h.ctx, "wxA", firstID["key-80"])
	must(t, err)
	if string(got.Payload) != "payload-80" {
		t.Fatalf("key-80 holds %q, want the first occurrence's payload", got.Payload)
	}
}

func testInsertEventsAtomic(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	batch := []*wxfleet.Event{ev("wxA", "", "t", "a1", "x"), ev("wxNOPE", "", "t", "a2", "y")}
	_, err := h.InsertEvents(h.ctx, batch)
	wantCode(t, err, wxfleet.ENOTFOUND)
	if batch[0].ID != 0 {
		t.Fatalf("failed batch set ID %d", batch[0].ID)
	}
	_, total, err := h.ListEvents(h.ctx, "wxA", store.EventFilter{})
	must(t, err)
	if total != 0 {
		t.Fatalf("failed batch left %d events behind", total)
	}
	// The key is still free.
	ins, err := h.InsertEvents(h.ctx, batch[:1])
	must(t, err)
	if !ins[0] {
		t.Fatal("key of a rolled-back batch counted as duplicate")
	}
}

// testInsertEventsConcurrent runs batches from many goroutines at once, with
// keys shared between them, and readers alongside: no busy errors, no
// deadlock, each key stored once.
func testInsertEventsConcurrent(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	const writers, batches, size = 6, 15, 16
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inserted int
		errs     []error
	)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, _, err := h.ListEvents(h.ctx, "wxA", store.EventFilter{Limit: 20}); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				evs := make([]*wxfleet.Event, size)
				for i := range evs {
					// Half the keys are shared by all writers.
					key := fmt.Sprintf("w%d-b%d-%d", w, b, i)
					if i%2 == 0 {
						key = fmt.Sprintf("shared-b%d-%d", b, i)
					}
					evs[i] = ev("wxA", "", "t", key, key)
				}
				ins, err := h.InsertEvents(h.ctx, evs)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				for _, ok := range ins {
					if ok {
						inserted++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	want := writers*batches*size/2 + batches*size/2
	_, total, err := h.ListEvents(h.ctx, "wxA", store.EventFilter{})
	must(t, err)
	if inserted != want || total != want {
		t.Fatalf("inserted %d, stored %d, want %d", inserted, total, want)
	}
}

func testListEvents(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	apps := []string{"wxapp1", "wxapp2", ""}
	types := []string{"text", "event.weapp_audit_success"}
	var all []*wxfleet.Event
	for i := range 30 {
		all = append(all, ev("wxA", apps[i%3], types[i%2], fmt.Sprintf("k%d", i), fmt.Sprintf("p%d", i)))
	}
	_, err := h.InsertEvents(h.ctx, all)
	must(t, err)
	var others []*wxfleet.Event
	for i := range 5 {
		others = append(others, ev("wxB", "wxapp1", "text", fmt.Sprintf("k%d", i), "b"))
	}
	_, err = h.InsertEvents(h.ctx, others)
	must(t, err)

	check := func(f store.EventFilter, match func(*wxfleet.Event) bool) {
		t.Helper()
		var want []int64
		for i := len(all) - 1; i >= 0; i-- { // newest first
			if match(all[i]) && (f.Cursor == 0 || all[i].ID < f.Cursor) {
				want = append(want, all[i].ID)
			}
		}
		wantTotal := 0
		for _, e := range all {
			if match(e) {
				wantTotal++
			}
		}
		var got []int64
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("paging does not end: cursor %d", f.Cursor)
			}
			page, total, err := h.ListEvents(h.ctx, "wxA", f)
			must(t, err)
			if total != wantTotal {
				t.Fatalf("filter %+v: total %d, want %d", f, total, wantTotal)
			}
			if len(page) > f.Limit {
				t.Fatalf("page of %d over limit %d", len(page), f.Limit)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if e.ComponentAppID != "wxA" {
					t.Fatalf("platform A's list holds %s's event", e.ComponentAppID)
				}
				got = append(got, e.ID)
			}
			f.Cursor = page[len(page)-1].ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("filter ids = %v\nwant %v", got, want)
		}
	}
	check(store.EventFilter{Limit: 7}, func(*wxfleet.Event) bool { return true })
	check(store.EventFilter{Limit: 4, AppID: "wxapp1"}, func(e *wxfleet.Event) bool { return e.AppID == "wxapp1" })
	check(store.EventFilter{Limit: 3, Type: "text"}, func(e *wxfleet.Event) bool { return e.Type == "text" })
	check(store.EventFilter{Limit: 2, AppID: "wxapp2", Type: "text"}, func(e *wxfleet.Event) bool { return e.AppID == "wxapp2" && e.Type == "text" })
	check(store.EventFilter{Limit: 5, Cursor: all[20].ID}, func(*wxfleet.Event) bool { return true })
	check(store.EventFilter{Limit: 5, AppID: "nobody"}, func(*wxfleet.Event) bool { return false })

	page, _, err := h.ListEvents(h.ctx, "wxA", store.EventFilter{Limit: 1})
	must(t, err)
	if !reflect.DeepEqual(page[0], all[29]) {
		t.Fatalf("listed event %+v, want %+v", page[0], all[29])
	}
	pageB, totalB, err := h.ListEvents(h.ctx, "wxB", store.EventFilter{})
	must(t, err)
	if totalB != 5 || len(pageB) != 5 {
		t.Fatalf("platform B: %d events, total %d", len(pageB), totalB)
	}
}

// ---- authorization links ----

func testAuthLinks(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	l := &wxfleet.AuthLink{ComponentAppID: "wxA", PreAuthCode: "preauthcode@@@abc", Merchant: "merchant-1",
		AuthType: 2, CreatedAt: base, ExpiresAt: base.Add(30 * time.Minute)}
	must(t, h.CreateAuthLink(h.ctx, l))
	if l.ID == "" {
		t.Fatal("CreateAuthLink did not assign an id")
	}
	// The code is kept as its digest and sealed: a link reads back without it.
	// Its lifetime defaults to the link's.
	want := *l
	want.PreAuthCode = ""
	want.CodeExpiresAt = l.ExpiresAt
	got, err := h.AuthLink(h.ctx, "wxA", l.ID)
	must(t, err)
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("AuthLink = %+v, want %+v", got, want)
	}
	got, err = h.AuthLinkByPreAuthCode(h.ctx, "wxA", "preauthcode@@@abc")
	must(t, err)
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("AuthLinkByPreAuthCode = %+v, want %+v", got, want)
	}
	var stored int
	must(t, h.rawDB(t).QueryRowContext(h.ctx, `SELECT count(*) FROM auth_links WHERE pre_auth_code_sha256 LIKE '%preauthcode%'`).Scan(&stored))
	if stored != 0 {
		t.Fatal("the pre_auth_code is stored in the clear")
	}
	_, err = h.AuthLinkByPreAuthCode(h.ctx, "wxA", "preauthcode@@@abd")
	wantCode(t, err, wxfleet.ENOTFOUND)

	// Tenant boundaries.
	_, err = h.AuthLink(h.ctx, "wxB", l.ID)
	wantCode(t, err, wxfleet.ENOTFOUND)
	_, err = h.AuthLinkByPreAuthCode(h.ctx, "wxB", "preauthcode@@@abc")
	wantCode(t, err, wxfleet.ENOTFOUND)
	wantCode(t, h.MarkAuthLinkUsed(h.ctx, "wxB", l.ID, "wxapp1"), wxfleet.ENOTFOUND)

	// Same id twice under one platform conflicts; under another it is fine.
	dup := *l
	wantCode(t, h.CreateAuthLink(h.ctx, &dup), wxfleet.ECONFLICT)
	onB := *l
	onB.ComponentAppID = "wxB"
	must(t, h.CreateAuthLink(h.ctx, &onB))
	wantCode(t, h.CreateAuthLink(h.ctx, &wxfleet.AuthLink{ComponentAppID: "wxNOPE", PreAuthCode: "c"}), wxfleet.ENOTFOUND)
	wantCode(t, h.CreateAuthLink(h.ctx, &wxfleet.AuthLink{ComponentAppID: "wxA"}), wxfleet.EINVALID)

	// Used once, by one authorizer.
	must(t, h.MarkAuthLinkUsed(h.ctx, "wxA", l.ID, "wxapp1"))
	must(t, h.MarkAuthLinkUsed(h.ctx, "wxA", l.ID, "wxapp1"))
	wantCode(t, h.MarkAuthLinkUsed(h.ctx, "wxA", l.ID, "wxapp2"), wxfleet.ECONFLICT)
	wantCode(t, h.MarkAuthLinkUsed(h.ctx, "wxA", "missing", "wxapp1"), wxfleet.ENOTFOUND)
	got, err = h.AuthLink(h.ctx, "wxA", l.ID)
	must(t, err)
	if got.AuthorizerAppID != "wxapp1" {
		t.Fatalf("AuthorizerAppID = %q", got.AuthorizerAppID)
	}
	gotB, err := h.AuthLink(h.ctx, "wxB", l.ID)
	must(t, err)
	if gotB.AuthorizerAppID != "" {
		t.Fatal("marking A's link marked B's")
	}

	// A newer link with the same code wins the lookup.
	again := &wxfleet.AuthLink{ID: "link-2", ComponentAppID: "wxA", PreAuthCode: "preauthcode@@@abc", CreatedAt: base.Add(time.Minute)}
	must(t, h.CreateAuthLink(h.ctx, again))
	got, err = h.AuthLinkByPreAuthCode(h.ctx, "wxA", "preauthcode@@@abc")
	must(t, err)
	if got.ID != "link-2" {
		t.Fatalf("AuthLinkByPreAuthCode = %s, want the newer link-2", got.ID)
	}
}

// testHashPreAuthCodes starts from migration 1, where auth_links kept
// pre_auth_codes in the clear, and checks that migration 2 leaves only
// digests, by which the links are still found.
func testHashPreAuthCodes(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	must(t, h.MigrateDownTo(h.ctx, 1))
	raw := h.rawDB(t)
	_, err := raw.ExecContext(h.ctx, `INSERT INTO auth_links (component_appid, id, pre_auth_code, merchant, created_at, expires_at)
		VALUES ('wxA', 'old-link', 'preauthcode@@@old', 'merchant-9', 1, 2)`)
	must(t, err)
	must(t, h.Migrate(h.ctx))
	var clear int
	must(t, raw.QueryRowContext(h.ctx, `SELECT count(*) FROM auth_links WHERE pre_auth_code_sha256 LIKE '%preauthcode%'`).Scan(&clear))
	if clear != 0 {
		t.Fatal("migration 2 left a pre_auth_code in the clear")
	}
	got, err := h.AuthLinkByPreAuthCode(h.ctx, "wxA", "preauthcode@@@old")
	must(t, err)
	if got.ID != "old-link" || got.Merchant != "merchant-9" {
		t.Fatalf("AuthLinkByPreAuthCode after migration = %+v", got)
	}
}

// ---- console sessions ----

func testConsoleSessions(t *testing.T, h *harness) {
	must(t, h.CreateConsoleSession(h.ctx, "d1", base, base.Add(time.Hour)))
	must(t, h.CreateConsoleSession(h.ctx, "d2", base, base.Add(time.Minute)))
	for _, c := range []struct {
		digest string
		at     time.Time
		want   bool
	}{
		{"d1", base.Add(30 * time.Minute), true},
		{"d2", base.Add(30 * time.Minute), false}, // expired
		{"d1", base.Add(time.Hour), false},
		{"nope", base, false},
	} {
		ok, err := h.ConsoleSessionValid(h.ctx, c.digest, c.at)
		must(t, err)
		if ok != c.want {
			t.Errorf("%s at %v: %v, want %v", c.digest, c.at.Sub(base), ok, c.want)
		}
	}
	must(t, h.DeleteConsoleSession(h.ctx, "d1"))
	must(t, h.DeleteConsoleSession(h.ctx, "d1")) // twice: no error
	if ok, err := h.ConsoleSessionValid(h.ctx, "d1", base); err != nil || ok {
		t.Fatalf("after logout: %v, %v", ok, err)
	}
	// A new login removes the expired rows.
	must(t, h.CreateConsoleSession(h.ctx, "d3", base.Add(2*time.Minute), base.Add(time.Hour)))
	if n := countRows(t, h, h.rawDB(t), "console_sessions"); n != 1 {
		t.Fatalf("%d session rows, want 1 (d2 expired, d1 logged out)", n)
	}
	wantCode(t, h.CreateConsoleSession(h.ctx, "d3", base, base.Add(time.Hour)), wxfleet.EINTERNAL)
}

// ---- event retention ----

func testPruneEvents(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	at := func(e *wxfleet.Event, d time.Duration) *wxfleet.Event { e.ReceivedAt = base.Add(d); return e }
	var evs []*wxfleet.Event
	for i := range 5 { // old user messages of both platforms
		evs = append(evs, at(ev("wxA", "app", "text", fmt.Sprintf("m:%d", i), "hi"), time.Duration(i)*time.Second))
		evs = append(evs, at(ev("wxB", "app", "text", fmt.Sprintf("m:%d", i), "hi"), time.Duration(i)*time.Second))
	}
	evs = append(evs,
		at(ev("wxA", "app", "weapp_audit_success", "e:audit", "ok"), 10*time.Second), // old, kept: audit
		at(ev("wxA", "", "authorized", "c:auth", "auth"), 11*time.Second),            // old, kept: not a message
		at(ev("wxA", "", "component_verify_ticket", "c:tick", "t"), 12*time.Second),  // old ticket: pruned by type
		at(ev("wxA", "app", "subscribe", "e:new", "new"), time.Hour),                 // new
		at(ev("wxA", "app", "text", "m:newest", "newest"), time.Hour+time.Second),    // new
	)
	_, err := h.InsertEvents(h.ctx, evs)
	must(t, err)
	p := store.EventPrune{Before: base.Add(time.Minute), Prefixes: []string{"m:", "e:"}, Types: []string{"component_verify_ticket"},
		Keep: []string{"weapp_audit_success"}, Limit: 4}
	n, err := h.PruneEvents(h.ctx, "wxA", p)
	must(t, err)
	if n != 4 {
		t.Fatalf("first batch pruned %d, want the limit 4", n)
	}
	n, err = h.PruneEvents(h.ctx, "wxA", p)
	must(t, err)
	if n != 2 {
		t.Fatalf("second batch pruned %d, want 2", n)
	}
	var keys []string
	list, _, err := h.ListEvents(h.ctx, "wxA", store.EventFilter{})
	must(t, err)
	for _, e := range list {
		keys = append(keys, e.DedupKey)
	}
	if want := []string{"m:newest", "e:new", "c:auth", "e:audit"}; !slices.Equal(keys, want) {
		t.Fatalf("wxA keeps %v, want %v", keys, want)
	}
	if _, total, _ := h.ListEvents(h.ctx, "wxB", store.EventFilter{}); total != 5 {
		t.Fatalf("pruning wxA touched wxB: %d left", total)
	}
	// Everything of wxB is old, but the table's newest row is never deleted.
	_, err = h.InsertEvents(h.ctx, []*wxfleet.Event{at(ev("wxB", "app", "text", "m:last", "x"), 2*time.Hour)})
	must(t, err)
	n, err = h.PruneEvents(h.ctx, "wxB", store.EventPrune{Before: base.Add(3 * time.Hour), Prefixes: []string{"m:"}})
	must(t, err)
	if _, total, _ := h.ListEvents(h.ctx, "wxB", store.EventFilter{}); n != 5 || total != 1 {
		t.Fatalf("pruned %d, %d left; want 5 and the newest row kept", n, total)
	}
	_, err = h.PruneEvents(h.ctx, "wxA", store.EventPrune{Before: base})
	wantCode(t, err, wxfleet.EINVALID)
}

// ---- authorization link binding ----

func testAuthLinkBinding(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	l := &wxfleet.AuthLink{ComponentAppID: "wxA", PreAuthCode: "preauthcode@@@one", Merchant: "m1", AuthType: 2,
		CreatedAt: base, ExpiresAt: base.Add(7 * 24 * time.Hour), CodeExpiresAt: base.Add(10 * time.Minute), StateDigest: "s1"}
	must(t, h.CreateAuthLink(h.ctx, l))
	got, err := h.AuthLink(h.ctx, "wxA", l.ID)
	must(t, err)
	if got.StateDigest != "s1" || got.BrowserBound || got.Used() || !got.CodeExpiresAt.Equal(l.CodeExpiresAt) || !got.ExpiresAt.Equal(l.ExpiresAt) {
		t.Fatalf("read back %+v", got)
	}
	code, err := h.AuthLinkPreAuthCode(h.ctx, "wxA", l.ID)
	must(t, err)
	if code != "preauthcode@@@one" {
		t.Fatalf("sealed code opens to %q", code)
	}
	var raw string
	must(t, h.rawDB(t).QueryRowContext(h.ctx, `SELECT pre_auth_code_sealed FROM auth_links WHERE id = $1`, l.ID).Scan(&raw))
	if strings.Contains(raw, "preauthcode@@@one") {
		t.Fatal("pre_auth_code stored in the clear")
	}
	// A page view renews the code and binds the link to a browser.
	l.PreAuthCode, l.CodeExpiresAt, l.StateDigest, l.BrowserBound = "preauthcode@@@two", base.Add(20*time.Minute), "s2", true
	must(t, h.RenewAuthLink(h.ctx, l))
	got, _ = h.AuthLinkByPreAuthCode(h.ctx, "wxA", "preauthcode@@@two")
	if got == nil || got.ID != l.ID || got.StateDigest != "s2" || !got.BrowserBound {
		t.Fatalf("after renew: %+v", got)
	}
	// Claimed once.
	must(t, h.ClaimAuthLink(h.ctx, "wxA", l.ID, base.Add(time.Minute)))
	wantCode(t, h.ClaimAuthLink(h.ctx, "wxA", l.ID, base.Add(2*time.Minute)), wxfleet.ECONFLICT)
	wantCode(t, h.RenewAuthLink(h.ctx, l), wxfleet.ECONFLICT)
	got, _ = h.AuthLink(h.ctx, "wxA", l.ID)
	if !got.Used() || !got.ClaimedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("after claim: %+v", got)
	}
	wantCode(t, h.ClaimAuthLink(h.ctx, "wxA", "nope", base), wxfleet.ENOTFOUND)
	// A link used by a push cannot be claimed by a callback.
	l2 := &wxfleet.AuthLink{ComponentAppID: "wxA", PreAuthCode: "preauthcode@@@three", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
	must(t, h.CreateAuthLink(h.ctx, l2))
	must(t, h.MarkAuthLinkUsed(h.ctx, "wxA", l2.ID, "wxapp"))
	wantCode(t, h.ClaimAuthLink(h.ctx, "wxA", l2.ID, base), wxfleet.ECONFLICT)
}

// ---- sealed values bound to their rows ----

// sealV1 seals as versions before row binding did: "v1:" + base64(nonce |
// AES-256-GCM ciphertext), no associated data, no key id.
func sealV1(t testing.TB, key []byte, plain string) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	must(t, err)
	gcm, err := cipher.NewGCM(block)
	must(t, err)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return "v1:" + base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, []byte(plain), nil))
}

func testSealedBoundToRows(t *testing.T, h *harness) {
	key := vault.GenerateKey()
	v, err := vault.New(key)
	must(t, err)
	s, rawDSN := h.backend.open(t, v)
	must(t, s.Migrate(h.ctx))
	raw := (&harness{Store: s, backend: h.backend, vault: v, rawDSN: rawDSN, ctx: h.ctx}).rawDB(t)
	for _, p := range []string{"wxA", "wxB"} {
		must(t, s.UpsertPlatform(h.ctx, &wxfleet.Platform{AppID: p, Name: p, Token: "tok-" + wxfleet.Secret(p), AESKey: "aes", Secret: "sec-" + wxfleet.Secret(p)}))
	}
	for _, app := range []string{"wxapp1", "wxapp2"} {
		must(t, s.UpsertAuthorizer(h.ctx, &wxfleet.Authorizer{ComponentAppID: "wxA", AppID: app, Status: wxfleet.StatusAuthorized,
			AccessToken: "at-" + wxfleet.Secret(app), RefreshToken: "rt-" + wxfleet.Secret(app), TokenExpiresAt: base.Add(time.Hour)}))
	}
	var sealed string
	must(t, raw.QueryRowContext(h.ctx, `SELECT refresh_token_sealed FROM authorizers WHERE appid = 'wxapp1'`).Scan(&sealed))
	if vault.SealedKeyID(sealed) != v.KeyID() {
		t.Fatalf("sealed value %q does not name its key %s", sealed, v.KeyID())
	}
	// Copied into another row, or another column, it does not open.
	_, err = raw.ExecContext(h.ctx, `UPDATE authorizers SET refresh_token_sealed = $1 WHERE appid = 'wxapp2'`, sealed)
	must(t, err)
	if _, err := s.Authorizer(h.ctx, "wxA", "wxapp2"); err == nil {
		t.Fatal("wxapp1's refresh token, copied into wxapp2's row, opened there")
	}
	_, err = raw.ExecContext(h.ctx, `UPDATE platforms SET secret_sealed = (SELECT secret_sealed FROM platforms WHERE component_appid = 'wxA') WHERE component_appid = 'wxB'`)
	must(t, err)
	if _, err := s.Platform(h.ctx, "wxB"); err == nil {
		t.Fatal("wxA's secret, copied into wxB's row, opened there")
	}
	// Values from before the binding are re-sealed bound by Migrate.
	_, err = raw.ExecContext(h.ctx, `UPDATE authorizers SET refresh_token_sealed = $1, access_token_sealed = $2 WHERE appid = 'wxapp2'`,
		sealV1(t, key, "rt-legacy"), sealV1(t, key, "at-legacy"))
	must(t, err)
	_, err = raw.ExecContext(h.ctx, `UPDATE platforms SET secret_sealed = $1 WHERE component_appid = 'wxB'`, sealV1(t, key, "sec-legacy"))
	must(t, err)
	must(t, s.Migrate(h.ctx))
	a, err := s.Authorizer(h.ctx, "wxA", "wxapp2")
	must(t, err)
	p, err := s.Platform(h.ctx, "wxB")
	must(t, err)
	if a.RefreshToken != "rt-legacy" || a.AccessToken != "at-legacy" || p.Secret != "sec-legacy" {
		t.Fatalf("after re-sealing: %q %q %q", a.RefreshToken.Reveal(), a.AccessToken.Reveal(), p.Secret.Reveal())
	}
	var n int
	must(t, raw.QueryRowContext(h.ctx, `SELECT COUNT(*) FROM authorizers WHERE refresh_token_sealed LIKE 'v1:%' OR access_token_sealed LIKE 'v1:%'`).Scan(&n))
	if n != 0 {
		t.Fatalf("%d legacy values left after Migrate", n)
	}
	must(t, raw.QueryRowContext(h.ctx, `SELECT refresh_token_sealed FROM authorizers WHERE appid = 'wxapp2'`).Scan(&sealed))
	_, err = raw.ExecContext(h.ctx, `UPDATE authorizers SET refresh_token_sealed = $1 WHERE appid = 'wxapp1'`, sealed)
	must(t, err)
	if _, err := s.Authorizer(h.ctx, "wxA", "wxapp1"); err == nil {
		t.Fatal("a re-sealed value opened in another row")
	}
}

// ---- the token refresher's bookkeeping (migration 4) ----

func addAuthorizerExpiring(t testing.TB, h *harness, comp, app string, status wxfleet.AuthorizerStatus, exp time.Duration) {
	t.Helper()
	a := fullAuthorizer(comp, app)
	a.Status, a.TokenExpiresAt = status, base.Add(exp)
	must(t, h.UpsertAuthorizer(h.ctx, a))
}

func appIDs(refs []store.AuthorizerRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.AppID)
	}
	return out
}

// RefreshDue pages through one platform's due authorizers in expiry order,
// skips those with a queued refresh standing, and puts failing ones in a
// separate list.
func testRefreshDue(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	for i := range 7 {
		addAuthorizerExpiring(t, h, "wxA", fmt.Sprintf("app%d", i), wxfleet.StatusAuthorized, time.Duration(i)*time.Minute)
	}
	addAuthorizerExpiring(t, h, "wxA", "revoked", wxfleet.StatusRevoked, -time.Hour)
	addAuthorizerExpiring(t, h, "wxA", "later", wxfleet.StatusAuthorized, time.Hour)
	addAuthorizerExpiring(t, h, "wxB", "other", wxfleet.StatusAuthorized, 0)
	q := store.RefreshDueQuery{ComponentAppID: "wxA", Before: base.Add(30 * time.Minute), Now: base, Limit: 3}
	var got []string
	for {
		page, err := h.RefreshDue(h.ctx, q)
		must(t, err)
		got = append(got, appIDs(page)...)
		if len(page) < q.Limit {
			break
		}
		q.After = &page[len(page)-1]
	}
	if want := []string{"app0", "app1", "app2", "app3", "app4", "app5", "app6"}; !slices.Equal(got, want) {
		t.Fatalf("paged RefreshDue = %v, want %v", got, want)
	}

	// A queued refresh keeps app1 out until its mark passes; a mark in the
	// past releases app2 at once.
	must(t, h.MarkRefreshQueued(h.ctx, []store.RefreshMark{
		{ComponentAppID: "wxA", AppID: "app1", Until: base.Add(time.Minute)},
		{ComponentAppID: "wxA", AppID: "app2", Until: base.Add(-time.Second)},
	}))
	// A failure takes app0 to the failing list, after its backoff.
	n, err := h.RecordRefreshFailure(h.ctx, store.RefreshFailure{ComponentAppID: "wxA", AppID: "app0", Errcode: 45009,
		Error: "quota", At: base, Backoff: 15 * time.Second, MaxBackoff: time.Minute})
	must(t, err)
	if n != 1 {
		t.Fatalf("first failure counted %d", n)
	}
	due := func(now time.Time, failing bool) []string {
		t.Helper()
		page, err := h.RefreshDue(h.ctx, store.RefreshDueQuery{ComponentAppID: "wxA", Before: base.Add(30 * time.Minute), Now: now, Failing: failing, Limit: 100})
		must(t, err)
		return appIDs(page)
	}
	if got, want := due(base, false), []string{"app2", "app3", "app4", "app5", "app6"}; !slices.Equal(got, want) {
		t.Fatalf("healthy due with marks = %v, want %v", got, want)
	}
	if got := due(base, true); len(got) != 0 {
		t.Fatalf("failing app0 due before its backoff: %v", got)
	}
	if got, want := due(base.Add(15*time.Second), true), []string{"app0"}; !slices.Equal(got, want) {
		t.Fatalf("failing due after backoff = %v, want %v", got, want)
	}
	if got, want := due(base.Add(time.Minute), false), []string{"app1", "app2", "app3", "app4", "app5", "app6"}; !slices.Equal(got, want) {
		t.Fatalf("healthy due after app1's mark = %v, want %v", got, want)
	}
	// A big page: more than the 1000 of one query, through the cursor.
	var marks []store.RefreshMark
	for i := range 1100 {
		addAuthorizerExpiring(t, h, "wxB", fmt.Sprintf("bulk%04d", i), wxfleet.StatusAuthorized, time.Minute)
		if i%2 == 0 {
			marks = append(marks, store.RefreshMark{ComponentAppID: "wxB", AppID: fmt.Sprintf("bulk%04d", i), Until: base.Add(time.Hour)})
		}
	}
	must(t, h.MarkRefreshQueued(h.ctx, marks)) // 550 marks: two statements
	total := 0
	qb := store.RefreshDueQuery{ComponentAppID: "wxB", Before: base.Add(time.Hour), Now: base, Limit: 1000}
	for {
		page, err := h.RefreshDue(h.ctx, qb)
		must(t, err)
		total += len(page)
		if len(page) < qb.Limit {
			break
		}
		qb.After = &page[len(page)-1]
	}
	if total != 551 { // "other" and the 550 unmarked
		t.Fatalf("wxB due = %d, want 551", total)
	}
}

// RecordRefreshFailure counts consecutive failures with a growing, capped
// backoff; RecordRefreshSuccess clears them.
func testRefreshFailures(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	addAuthorizerExpiring(t, h, "wxA", "app1", wxfleet.StatusAuthorized, time.Minute)
	f := store.RefreshFailure{ComponentAppID: "wxA", AppID: "app1", Errcode: -1, Error: "system busy", Backoff: 15 * time.Second, MaxBackoff: 40 * time.Second}
	for i, wantWait := range []time.Duration{15 * time.Second, 30 * time.Second, 40 * time.Second, 40 * time.Second} {
		f.At = base.Add(time.Duration(i) * time.Minute)
		n, err := h.RecordRefreshFailure(h.ctx, f)
		must(t, err)
		if n != i+1 {
			t.Fatalf("failure %d counted %d", i+1, n)
		}
		st, err := h.RefreshState(h.ctx, "wxA", "app1")
		must(t, err)
		if st.Failures != i+1 || st.LastErrcode != -1 || st.LastError != "system busy" || !st.LastFailedAt.Equal(f.At) || !st.QueuedUntil.Equal(f.At.Add(wantWait)) {
			t.Fatalf("after failure %d: %+v (want retry after %v)", i+1, st, wantWait)
		}
	}
	was, err := h.RecordRefreshSuccess(h.ctx, "wxA", "app1")
	must(t, err)
	if !was {
		t.Fatal("RecordRefreshSuccess did not see the failures")
	}
	if st, err := h.RefreshState(h.ctx, "wxA", "app1"); err != nil || st.Failures != 0 || st.LastErrcode != -1 {
		t.Fatalf("after success: %+v, %v (failures cleared, last error kept)", st, err)
	}
	if was, err := h.RecordRefreshSuccess(h.ctx, "wxA", "app1"); err != nil || was {
		t.Fatalf("second success: %v, %v", was, err)
	}
	if st, err := h.RefreshState(h.ctx, "wxA", "never"); err != nil || st != (store.RefreshState{}) {
		t.Fatalf("untouched authorizer: %+v, %v", st, err)
	}
	_, err = h.RecordRefreshFailure(h.ctx, store.RefreshFailure{ComponentAppID: "wxA", AppID: "ghost", At: base})
	wantCode(t, err, wxfleet.ENOTFOUND)
}

// ReserveSlots hands out disjoint spans, from now when the pacer lags, even
// to concurrent callers.
func testReserveSlots(t *testing.T, h *harness) {
	next, err := h.PacerNext(h.ctx, "p")
	must(t, err)
	if !next.IsZero() {
		t.Fatalf("new pacer next = %v", next)
	}
	first, err := h.ReserveSlots(h.ctx, "p", time.Second, base)
	must(t, err)
	if !first.Equal(base) {
		t.Fatalf("first reservation starts %v, want now %v", first, base)
	}
	second, err := h.ReserveSlots(h.ctx, "p", 500*time.Millisecond, base)
	must(t, err)
	if !second.Equal(base.Add(time.Second)) {
		t.Fatalf("second reservation starts %v, want after the first", second)
	}
	// Long after: the schedule restarts at now, not in the past.
	late := base.Add(time.Hour)
	third, err := h.ReserveSlots(h.ctx, "p", time.Second, late)
	must(t, err)
	if !third.Equal(late) {
		t.Fatalf("reservation after a pause starts %v, want %v", third, late)
	}
	next, err = h.PacerNext(h.ctx, "p")
	must(t, err)
	if !next.Equal(late.Add(time.Second)) {
		t.Fatalf("PacerNext = %v", next)
	}
	// 16 concurrent reservations of 10 ms: 16 distinct starts, 10 ms apart.
	var mu sync.Mutex
	var starts []int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := h.ReserveSlots(h.ctx, "q", 10*time.Millisecond, base)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			starts = append(starts, s.UnixMilli())
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(starts)
	for i, s := range starts {
		if s != base.UnixMilli()+int64(10*i) {
			t.Fatalf("concurrent reservations overlap or leave gaps: %v", starts)
		}
	}
	_, err = h.ReserveSlots(h.ctx, "p", 0, base)
	wantCode(t, err, wxfleet.EINVALID)
}

// A pause is shared, never shortened, and exactly one caller claims its probe.
func testAPIPause(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	if _, ok, err := h.APIPause(h.ctx, "wxA", "api_authorizer_token"); err != nil || ok {
		t.Fatalf("pause before any: %v, %v", ok, err)
	}
	p := store.APIPause{ComponentAppID: "wxA", API: "api_authorizer_token", Until: base.Add(time.Minute), Since: base, Errcode: 45009, Reason: "quota"}
	must(t, h.PauseAPI(h.ctx, p))
	shorter := p
	shorter.Until, shorter.Since, shorter.Errcode = base.Add(time.Second), base.Add(time.Second), -1
	must(t, h.PauseAPI(h.ctx, shorter))
	got, ok, err := h.APIPause(h.ctx, "wxA", "api_authorizer_token")
	must(t, err)
	if !ok || !got.Until.Equal(p.Until) || !got.Since.Equal(base) || got.Errcode != -1 {
		t.Fatalf("pause after a shorter one = %+v", got)
	}
	// Before it runs out nobody may probe.
	if won, err := h.ClaimProbe(h.ctx, "wxA", "api_authorizer_token", base.Add(30*time.Second), base.Add(time.Hour)); err != nil || won {
		t.Fatalf("probe claimed during the pause: %v, %v", won, err)
	}
	// After it, one of 8 concurrent callers wins.
	var wins sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wins.Add(1)
		go func() {
			defer wins.Done()
			ok, err := h.ClaimProbe(h.ctx, "wxA", "api_authorizer_token", base.Add(time.Minute), base.Add(2*time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wins.Wait()
	if won != 1 {
		t.Fatalf("%d callers claimed the probe, want 1", won)
	}
	all, err := h.APIPauses(h.ctx, "api_authorizer_token")
	must(t, err)
	if len(all) != 1 || all[0].Probes != 1 || !all[0].Until.Equal(base.Add(2*time.Minute)) {
		t.Fatalf("APIPauses = %+v", all)
	}
	must(t, h.ResumeAPI(h.ctx, "wxA", "api_authorizer_token"))
	if _, ok, err := h.APIPause(h.ctx, "wxA", "api_authorizer_token"); err != nil || ok {
		t.Fatalf("pause after resume: %v, %v", ok, err)
	}
	wantCode(t, h.PauseAPI(h.ctx, store.APIPause{ComponentAppID: "wxNope", API: "x", Until: base}), wxfleet.ENOTFOUND)
}

// TokenHealth counts each platform's authorized tokens by state.
func testTokenHealth(t *testing.T, h *harness) {
	mustPlatform(t, h, "wxA")
	mustPlatform(t, h, "wxB")
	mustPlatform(t, h, "wxEmpty")
	add := func(comp, app string, status wxfleet.AuthorizerStatus, exp time.Duration) {
		t.Helper()
		addAuthorizerExpiring(t, h, comp, app, status, exp)
	}
	add("wxA", "fresh1", wxfleet.StatusAuthorized, time.Hour)
	add("wxA", "fresh2", wxfleet.StatusAuthorized, 20*time.Minute) // exactly at the margin: fresh
	add("wxA", "due1", wxfleet.StatusAuthorized, 19*time.Minute)
	add("wxA", "due2", wxfleet.StatusAuthorized, time.Millisecond)
	add("wxA", "expired1", wxfleet.StatusAuthorized, 0)
	add("wxA", "expired2", wxfleet.StatusAuthorized, -time.Hour)
	add("wxA", "revoked", wxfleet.StatusRevoked, -time.Hour)
	add("wxB", "fresh", wxfleet.StatusAuthorized, time.Hour)
	add("wxB", "gone", wxfleet.StatusReauthorizationNeeded, -time.Hour)
	for _, app := range []string{"due1", "expired2"} {
		_, err := h.RecordRefreshFailure(h.ctx, store.RefreshFailure{ComponentAppID: "wxA", AppID: app, Errcode: 45009, At: base})
		must(t, err)
	}
	_, err := h.RecordRefreshFailure(h.ctx, store.RefreshFailure{ComponentAppID: "wxB", AppID: "gone", Errcode: 61023, At: base})
	must(t, err)
	got, err := h.TokenHealth(h.ctx, base, 20*time.Minute)
	must(t, err)
	want := []store.TokenHealth{
		{ComponentAppID: "wxA", Fresh: 2, Due: 2, Expired: 2, Failing: 2},
		{ComponentAppID: "wxB", Fresh: 1}, // the failing one is no longer authorized
		{ComponentAppID: "wxEmpty"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("TokenHealth = %+v\nwant %+v", got, want)
	}
}
