package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Tenant scoping by construction (docs/tenants.md): a store method that
// reads or changes one tenant's data for a caller takes that caller's
// wxfleet.Scope. The methods that take none say here why they need none,
// in one of five kinds; a new method that does neither fails
// TestEveryStoreMethodDecidesItsScope, so it cannot be added without the
// question being asked.
type scopeKind string

const (
	// WeChat's pushes, River jobs, the token upkeep, migrations and backups
	// call it: there is no caller whose scope could bound it.
	kindSystem scopeKind = "system"
	// Only the ISV staff's routes (StaffRead/StaffWrite, OwnerRead…) and the
	// CLI reach it: fleet work across tenants (rollouts, templates, events).
	kindStaff scopeKind = "staff"
	// The ISV's own configuration (its platforms, plans, pay merchant): no
	// tenant's data.
	kindPlatform scopeKind = "platform"
	// The row is named by the caller's own secret (a session or API token's
	// digest, a login's e-mail, a runtime session): nothing else can be named.
	kindOwn scopeKind = "own"
	// One app's or one order's rows, reached from a tenant-scoped route only
	// after the app or order was read inside the caller's scope
	// (web/appscope.go, pay.Service.FindOrder); TestIsolationSweep checks
	// every such route with another tenant's ids.
	kindChecked scopeKind = "checked"
)

// scopelessFiles gives the kind of every scopeless method of a file whose
// methods are all of one kind; scopeless names the others one by one.
var scopelessFiles = map[string]scopeKind{
	"apitoken.go": kindOwn, "session.go": kindOwn, "runtime.go": kindOwn,
	"authlink.go": kindSystem, "backup.go": kindSystem, "exchange.go": kindSystem, "lease.go": kindSystem,
	"meta.go": kindSystem, "migrate.go": kindSystem, "rate.go": kindSystem, "refresh.go": kindSystem,
	"rotate.go": kindSystem, "schema.go": kindSystem, "seed.go": kindSystem, "store.go": kindSystem,
	"tx.go": kindSystem, "event_prune.go": kindSystem, "audit.go": kindSystem, "webhook.go": kindSystem,
	"dashboard.go": kindStaff, "fleet.go": kindStaff, "rollout.go": kindStaff, "template.go": kindStaff,
	"platform.go": kindPlatform,
}

var scopeless = map[string]scopeKind{
	// account.go: accounts are made and changed by owners only.
	"CreateAccount": kindStaff, "UpdateAccount": kindStaff, "CountAccounts": kindStaff, "AccountByEmail": kindOwn,

	// authorizer.go: pushes and the token upkeep write; the staff list;
	// a merchant's route reads one app only through web/appscope.go.
	"UpsertAuthorizer": kindSystem, "UpsertAuthorizerThen": kindSystem, "SaveAuthorizerToken": kindSystem,
	"SetAuthorizerStatus": kindSystem, "SetAuthorizerStatusThen": kindSystem, "AuthorizersDue": kindSystem,
	"AuthorizerPlatforms": kindSystem, "ListAuthorizers": kindStaff, "Authorizer": kindChecked,

	// cards.go: WeChat's card pushes record reviews and receipts; a coupon
	// is made and a code redeemed on an app already in the caller's scope.
	"SetCardReview": kindSystem, "RecordCardReceived": kindSystem, "PutCard": kindChecked, "RecordCardConsumed": kindChecked,

	// event.go: the push ingest writes; the staff read.
	"InsertEvents": kindSystem, "AddEvents": kindSystem, "RecentEventKeys": kindSystem, "Event": kindStaff, "ListEvents": kindStaff,

	// messaging.go: the pushes' side, and the sends' bookkeeping on an app
	// in the caller's scope.
	"AddConversationMessages": kindSystem, "ApplySubscribePopup": kindSystem, "ApplySubscribeChange": kindSystem,
	"RecordSubscribeDeliveries": kindSystem, "MessagingEventsAfter": kindSystem, "MessagingCursor": kindSystem,
	"SetMessagingCursor": kindSystem, "AddConversationMessage": kindChecked, "ConsentRefused": kindChecked,
	"TakeConsent": kindChecked, "ReturnConsent": kindChecked, "UserWrites": kindChecked,

	// pay.go: the ISV's provider merchant; WeChat Pay's notifications and the
	// reconciliation; orders placed for a runtime session's own app; refunds
	// and closes of an order read inside the caller's scope; an application
	// filed under the caller's own tenant (pay.Service.SubmitApplyment); the
	// bindings, the staff's.
	"PutPayMerchant": kindPlatform, "PayMerchant": kindPlatform, "PayMerchants": kindPlatform,
	"RecordPayNotification": kindSystem, "RecordRefundNotification": kindSystem, "UnpaidPayOrders": kindSystem,
	"CreatePayOrder": kindOwn, "DropUnplacedPayOrder": kindOwn, "SetPayOrderPrepay": kindOwn,
	"ClosePayOrder": kindChecked, "CreatePayRefund": kindChecked, "DropUnplacedPayRefund": kindChecked,
	"SetPayRefundState": kindChecked, "PayRefund": kindChecked, "PayRefunds": kindChecked,
	"SavePayApplyment": kindChecked, "UpdatePayApplymentState": kindChecked, "PayApplymentByCode": kindChecked,
	"BindPaySubMerchant": kindStaff,

	// subscribe.go: an app's templates (synced from WeChat on an app in the
	// caller's scope); the fleet-wide applies are the staff's.
	"SyncSubscribeTemplates": kindChecked, "SubscribeTemplates": kindChecked, "SubscribeTemplate": kindChecked,
	"PutSubscribeTemplate": kindStaff, "CreateSubscribeApply": kindStaff, "SubscribeApply": kindStaff,
	"SubscribeApplyApps": kindStaff, "FinishSubscribeApplyApp": kindStaff, "SubscribeApplyApp": kindStaff,

	// tenant.go: plans are the ISV's; the expiry job; rollouts' skip lists.
	"Plan": kindPlatform, "ListPlans": kindPlatform, "TermsDue": kindSystem, "RecordReminder": kindSystem,
	"SuspendExpired": kindSystem, "BlockedTenantApps": kindStaff, "BlockedTenantApp": kindStaff,
}

func TestEveryStoreMethodDecidesItsScope(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	seen := map[string]bool{}
	var undecided, stale []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || !fn.Name.IsExported() || !onStore(fn.Recv) {
				continue
			}
			name := fn.Name.Name
			seen[name] = true
			_, listed := scopeless[name]
			switch {
			case takesScope(fn.Type):
				if listed {
					stale = append(stale, f+": "+name)
				}
			case !listed && scopelessFiles[f] == "":
				undecided = append(undecided, f+": "+name)
			}
		}
	}
	for name := range scopeless {
		if !seen[name] {
			stale = append(stale, name+" (no such method)")
		}
	}
	sort.Strings(undecided)
	sort.Strings(stale)
	for _, m := range undecided {
		t.Errorf("%s takes no wxfleet.Scope and says nothing of why: give it the caller's Scope, or list it in scopeless with its kind", m)
	}
	for _, m := range stale {
		t.Errorf("%s is listed in scopeless but takes a Scope or does not exist: drop it from the list", m)
	}
	if len(seen) < 100 {
		t.Fatalf("read %d store methods: the parse found too few to trust", len(seen))
	}
}

// onStore reports whether a receiver is *Store or *Tx.
func onStore(recv *ast.FieldList) bool {
	if len(recv.List) != 1 {
		return false
	}
	star, ok := recv.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := star.X.(*ast.Ident)
	return ok && (id.Name == "Store" || id.Name == "Tx")
}

// takesScope reports whether a parameter is a wxfleet.Scope.
func takesScope(ft *ast.FuncType) bool {
	for _, p := range ft.Params.List {
		if sel, ok := p.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Scope" {
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "wxfleet" {
				return true
			}
		}
	}
	return false
}
