package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"
)

// TestMain lets the rollout benchmark start this test binary as its platform
// process ("rollout-platform"), as it starts wxload itself.
func TestMain(m *testing.M) {
	if os.Getenv("WXLOAD_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A small rollout through the whole benchmark: the platform in its own
// process, the sandbox here; every app released once, the calls counted,
// the platform's peak RSS read.
func TestRolloutTiny(t *testing.T) {
	t.Setenv("WXLOAD_TEST_RUN_MAIN", "1") // for the child; this process is past TestMain
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"rollout", "-apps", "12", "-rate", "0", "-batch", "5", "-audit-delay", "200ms", "-json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("rollout: %v\n%s", err, errOut.String())
	}
	var rep RolloutReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report %q: %v", out.String(), err)
	}
	if rep.Released != 12 || rep.NotOnce != 0 || rep.Calls["/wxa/commit"] != 12 || rep.Calls["/wxa/release"] != 12 ||
		rep.TotalCalls < 36 || rep.AvgRate <= 0 || rep.WallSeconds <= 0 {
		t.Fatalf("report %+v", rep)
	}
	if rep.PeakRSSMB <= 0 && runtime.GOOS == "linux" {
		t.Errorf("no peak RSS: %+v", rep)
	}
	t.Logf("%+v", rep)
}

func TestRolloutRefusesRemoteDatabase(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"rollout", "-apps", "1", "-database", "postgres://u@192.0.2.1:5432/db"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("a database off loopback: %v", err)
	}
}
