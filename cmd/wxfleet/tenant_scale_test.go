package main

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet/store"
)

// The tenant and authorizer pages at scale, through the real API of the
// demo: seeded with `wxfleet demo --seed-tenants N --seed-authorizers M`'s
// code, then each page asked 20 times. It logs the median and slowest time
// of each; it asserts only what the pages hold. The scale:
//
//	WXFLEET_TENANT_SCALE=20000,100000 go test -run TestTenantPagesAtScale -v ./cmd/wxfleet/ | grep scale
//
// Unset, it runs at 300 tenants and 1500 authorizers.
func TestTenantPagesAtScale(t *testing.T) {
	tenants, authorizers := 300, 1500
	if v := os.Getenv("WXFLEET_TENANT_SCALE"); v != "" {
		a, b, _ := strings.Cut(v, ",")
		var err1, err2 error
		tenants, err1 = strconv.Atoi(a)
		authorizers, err2 = strconv.Atoi(b)
		if err1 != nil || err2 != nil || tenants < 100 || authorizers < tenants {
			t.Fatalf("WXFLEET_TENANT_SCALE=%q: want TENANTS,AUTHORIZERS (at least 100, and as many authorizers)", v)
		}
	}
	d := bootDemo(t)
	res, err := d.Platform.Store.Seed(t.Context(), store.SeedOptions{ComponentAppID: demoPlatform.AppID, Tenants: tenants, Authorizers: authorizers, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scale: seeded %d tenants and %d authorizers in %v", res.Tenants, res.Authorizers, res.Took.Round(time.Millisecond))

	measure := func(name, path string, check func(body map[string]any) error) {
		t.Helper()
		var times []time.Duration
		for range 20 {
			var body map[string]any
			began := time.Now()
			st := d.api("GET", path, nil, &body)
			times = append(times, time.Since(began))
			if st != 200 {
				t.Fatalf("%s: HTTP %d", path, st)
			}
			if err := check(body); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		slices.Sort(times)
		t.Logf("scale: %-34s median %7.2f ms, slowest %7.2f ms  (GET %s)", name, ms(times[len(times)/2]), ms(times[len(times)-1]), path)
	}
	items := func(want int) func(map[string]any) error {
		return func(b map[string]any) error {
			if n := len(b["items"].([]any)); n != want {
				return fmt.Errorf("%d items, want %d", n, want)
			}
			return nil
		}
	}
	some := func(b map[string]any) error {
		if len(b["items"].([]any)) == 0 {
			return fmt.Errorf("no items")
		}
		return nil
	}
	last := strconv.Itoa(tenants - 40)
	measure("tenants, first page", "/api/v1/tenants?limit=50", items(50))
	measure("tenants, last page (cursor)", "/api/v1/tenants?limit=50&cursor="+last, items(40))
	measure("tenants by tag", "/api/v1/tenants?limit=50&tag=vip&cursor="+strconv.Itoa(tenants/2), some)
	measure("tenants by status", "/api/v1/tenants?limit=50&status=trial", some)
	measure("tenants by name", "/api/v1/tenants?limit=50&q="+url.QueryEscape(fmt.Sprintf("merchant %05d", tenants-1)), items(1))
	id := strconv.Itoa(tenants / 2)
	measure("one tenant (apps, plan, sub.)", "/api/v1/tenants/"+id, func(b map[string]any) error {
		if n := len(b["authorizers"].([]any)); n != authorizers/tenants {
			return fmt.Errorf("%d authorizers, want %d", n, authorizers/tenants)
		}
		return nil
	})
	// The first page counts the total; later pages do not unless asked.
	deep := "/api/v1/authorizers?limit=100&cursor=" + fmt.Sprintf("%s%010d", store.SeedAppIDPrefix, authorizers-150)
	total := func(present bool) func(map[string]any) error {
		return func(b map[string]any) error {
			if err := items(100)(b); err != nil {
				return err
			}
			if _, ok := b["total"]; ok != present {
				return fmt.Errorf("total present %v, want %v", ok, present)
			}
			return nil
		}
	}
	measure("authorizers, first page (total)", "/api/v1/authorizers?limit=100", total(true))
	measure("authorizers, first page, total=false", "/api/v1/authorizers?limit=100&total=false", total(false))
	measure("authorizers, deep page (cursor)", deep, total(false))
	measure("authorizers, deep page, total=true", deep+"&total=true", total(true))
	measure("authorizers of one tenant", "/api/v1/authorizers?tenant_id="+id, items(authorizers/tenants))

	// Every tenant is reachable by following next_cursor (at 500 a page).
	seen, cursor := 0, ""
	for {
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor *string          `json:"next_cursor"`
		}
		d.api("GET", "/api/v1/tenants?limit=500&cursor="+cursor, nil, &page)
		seen += len(page.Items)
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if seen != tenants {
		t.Fatalf("paged %d tenants, want %d", seen, tenants)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
