package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// wxload tenants at a small scale: it seeds, asks every page kind, checks
// what each holds (items, the total where it belongs) and reports one row
// per kind; a wrong page fails the run.
func TestTenantsTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a platform")
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"tenants", "-tenants", "200", "-authorizers", "1000", "-n", "5", "-warmup", "1", "-json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var rep TenantsReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Tenants != 200 || rep.Authorizers != 1000 || rep.Seeded == "" || len(rep.Pages) != len(tenantPages(200, 1000)) {
		t.Fatalf("report: %s", out.String())
	}
	for _, p := range rep.Pages {
		if p.Requests != 5 || p.P50 <= 0 || p.P95 < p.P50 || p.Max < p.P95 {
			t.Errorf("%s: %+v", p.Name, p)
		}
	}
	out.Reset()
	printTenants(&out, &rep)
	for _, want := range []string{"p50 ms", "p95 ms", "authorizers, deep page (cursor)", "tenants by name (q)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table without %q:\n%s", want, out.String())
		}
	}
}

// The flags are checked before anything boots.
func TestTenantsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-tenants", "10"},
		{"-tenants", "500", "-authorizers", "100"},
		{"-n", "0"},
		{"--target", "http://127.0.0.1:1"},
		{"--target", "http://127.0.0.1:1", "--admin-token", "x", "-data", "/tmp"},
		{"-database", "mysql://127.0.0.1/x"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append([]string{"tenants"}, args...), &out, &errOut); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
