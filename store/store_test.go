package store_test

// The conformance suite: every test in conformance runs against SQLite (a temp
// file, always) and PostgreSQL (when WXFLEET_TEST_POSTGRES names a database;
// each test gets a fresh schema, dropped afterwards).

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for the raw view
	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/store"
	"github.com/wxfleet/wxfleet/store/storetest"
	"github.com/wxfleet/wxfleet/vault"
)

const postgresEnv = storetest.PostgresEnv

// backend opens stores on one database kind.
type backend struct {
	name string
	// open returns a new, unmigrated store on a fresh database, closed (and
	// the database dropped) at test cleanup, plus a DSN for a raw connection
	// to the same database.
	open func(t testing.TB, v *vault.Vault) (s *store.Store, raw string)
}

// harness is what a conformance test gets: a migrated store and the means to
// look under it.
type harness struct {
	*store.Store
	backend backend
	vault   *vault.Vault
	rawDSN  string
	ctx     context.Context
}

// rawDB opens the database directly, bypassing the store.
func (h *harness) rawDB(t testing.TB) *sql.DB {
	t.Helper()
	driver := "sqlite"
	if h.Dialect() == store.DialectPostgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, h.rawDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// reopen opens a second store on the same database, with vault v.
func (h *harness) reopen(t testing.TB, v *vault.Vault) *store.Store {
	t.Helper()
	return h.open(t, h.rawDSN, v)
}

// reopenDSN opens another store on the database at dsn, with the same vault.
func (h *harness) reopenDSN(t testing.TB, dsn string) *store.Store {
	t.Helper()
	return h.open(t, dsn, h.vault)
}

func (h *harness) open(t testing.TB, dsn string, v *vault.Vault) *store.Store {
	t.Helper()
	s, err := store.Open(h.ctx, dsn, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newVault(t testing.TB) *vault.Vault { return storetest.NewVault(t) }

var sqliteBackend = backend{
	name: "sqlite",
	open: func(t testing.TB, v *vault.Vault) (*store.Store, string) {
		t.Helper()
		dsn := storetest.SQLite.DSN(t)
		return storetest.Open(t, dsn, v), strings.TrimPrefix(dsn, "sqlite:")
	},
}

func postgresBackend(dsn string) backend {
	return backend{
		name: "postgres",
		open: func(t testing.TB, v *vault.Vault) (*store.Store, string) {
			t.Helper()
			fresh := storetest.Postgres(dsn).DSN(t)
			return storetest.Open(t, fresh, v), fresh
		},
	}
}

// conformance is the suite every database must pass.
var conformance = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{"Migrate", testMigrate},
	{"MigrateConcurrently", testMigrateConcurrently},
	{"PlatformRoundTrip", testPlatformRoundTrip},
	{"SecretsSealedAtRest", testSecretsSealedAtRest},
	{"WrongVaultKey", testWrongVaultKey},
	{"CheckVaultKey", testCheckVaultKey},
	{"CheckVaultKeyRace", testCheckVaultKeyRace},
	{"KeyRotation", testKeyRotation},
	{"TicketNewestWins", testTicketNewestWins},
	{"ComponentToken", testComponentToken},
	{"Lease", testLease},
	{"LeaseRace", testLeaseRace},
	{"AuthorizerRoundTrip", testAuthorizerRoundTrip},
	{"AuthorizerList", testAuthorizerList},
	{"AuthorizerCrossTenant", testAuthorizerCrossTenant},
	{"SaveAuthorizerToken", testSaveAuthorizerToken},
	{"SetAuthorizerStatus", testSetAuthorizerStatus},
	{"AuthorizersDue", testAuthorizersDue},
	{"InsertEvents", testInsertEvents},
	{"InsertEventsLargeBatch", testInsertEventsLargeBatch},
	{"InsertEventsAtomic", testInsertEventsAtomic},
	{"InsertEventsConcurrent", testInsertEventsConcurrent},
	{"RecentEventKeys", testRecentEventKeys},
	{"AddEvents", testAddEvents},
	{"ListEvents", testListEvents},
	{"AuthLinks", testAuthLinks},
	{"HashPreAuthCodes", testHashPreAuthCodes},
	{"Templates", testTemplates},
	{"AuthorizerSettingsAndTags", testAuthorizerSettingsAndTags},
	{"Rollouts", testRollouts},
	{"Dashboard", testDashboard},
	{"ReserveSlot", testReserveSlot},
	{"TemplatePolicy", testTemplatePolicy},
	{"FleetActions", testFleetActions},
	{"AppHolds", testAppHolds},
	{"GrayReleasedApps", testGrayReleasedApps},
	{"CodeExchanges", testCodeExchanges},
	{"ConsoleSessions", testConsoleSessions},
	{"PruneEvents", testPruneEvents},
	{"RefreshDue", testRefreshDue},
	{"RefreshFailures", testRefreshFailures},
	{"ReserveSlots", testReserveSlots},
	{"APIPause", testAPIPause},
	{"TokenHealth", testTokenHealth},
	{"AuthLinkBinding", testAuthLinkBinding},
	{"SealedBoundToRows", testSealedBoundToRows},
	{"Conversations", testConversations},
	{"SubscribeConsents", testSubscribeConsents},
	{"SubscribeTemplates", testSubscribeTemplates},
	{"Accounts", testAccounts},
	{"AccountSessions", testAccountSessions},
	{"APITokens", testAPITokens},
	{"AuditLog", testAuditLog},
	{"RuntimeSessions", testRuntimeSessions},
	{"Cards", testCards},
	{"Pay", testPay},
	{"PayRefunds", testPayRefunds},
	{"AppDataScoped", testAppDataScoped},
}

func runConformance(t *testing.T, b backend) {
	for _, tc := range conformance {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := newVault(t)
			s, raw := b.open(t, v)
			ctx := t.Context()
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			tc.fn(t, &harness{Store: s, backend: b, vault: v, rawDSN: raw, ctx: ctx})
		})
	}
}

func TestSQLite(t *testing.T) {
	runConformance(t, sqliteBackend)
}

func TestPostgres(t *testing.T) {
	dsn := os.Getenv(postgresEnv)
	if dsn == "" {
		t.Skip("WXFLEET_TEST_POSTGRES not set: skipping PostgreSQL store tests")
	}
	runConformance(t, postgresBackend(dsn))
}

// ---- helpers ----

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := wxfleet.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustPlatform(t testing.TB, h *harness, appid string) *wxfleet.Platform {
	t.Helper()
	p := &wxfleet.Platform{AppID: appid, Name: "平台 " + appid, Token: "tok-" + wxfleet.Secret(appid),
		AESKey: wxfleet.Secret(strings.Repeat("k", 43)), Secret: "sec-" + wxfleet.Secret(appid)}
	must(t, h.UpsertPlatform(h.ctx, p))
	return p
}
