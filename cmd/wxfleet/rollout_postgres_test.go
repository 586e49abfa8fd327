package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"testing"

	"github.com/wxfleet/wxfleet/server"
)

// twoOnPostgres boots the demo on a fresh PostgreSQL schema and a second
// platform instance on the same database, with the same settings and WeChat
// (the sandbox pushes to the first). It skips without WXFLEET_TEST_POSTGRES.
func twoOnPostgres(t *testing.T, change func(*demoOptions)) (*testDemo, *server.Server) {
	t.Helper()
	dsn := postgresDSN(t)
	key := make([]byte, 32)
	rand.Read(key)
	var opts demoOptions
	a := bootDemoWith(t, func(o *demoOptions) {
		o.Database, o.MasterKey = dsn, key
		if change != nil {
			change(o)
		}
		opts = *o
	})
	cfg := opts.serverConfig(a.SandboxURL)
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("instance", "b")
	b, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// The rollout suite — skip, reject with WeChat's reason, release once each,
// roll back, gray release — with two `wxfleet serve` instances sharing one
// PostgreSQL database: River hands the steps to either.
func TestRolloutEndToEndOnTwoPostgresInstances(t *testing.T) {
	// In parallel: its time is mostly PostgreSQL's (under -race 13 s of
	// wall clock for 2 s of the test's CPU).
	t.Parallel()
	a, b := twoOnPostgres(t, nil)
	rolloutEndToEnd(t, a)
	t.Logf("apps moved on by instance A: %d, by instance B: %d", stepsOn(t, a.Platform), stepsOn(t, b))
}

// The 200-app rollout under faults, with its rejections and its pause, on two
// instances sharing PostgreSQL: every app is still committed, submitted and
// released once, and both instances did part of the work.
func TestRolloutFleetOnTwoPostgresInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("a rollout to 200 mini programs")
	}
	// In parallel with the other long tests that wait much of their time
	// (the kill, drain and PostgreSQL tests).
	t.Parallel()
	a, b := twoOnPostgres(t, fleetOptions)
	rolloutFleetUnderFaults(t, a)
	na, nb := stepsOn(t, a.Platform), stepsOn(t, b)
	t.Logf("apps moved on by instance A: %d, by instance B: %d", na, nb)
	if na == 0 || nb == 0 {
		t.Errorf("one instance did all the work (A %d, B %d moves): the second is not sharing the rollout", na, nb)
	}
}
