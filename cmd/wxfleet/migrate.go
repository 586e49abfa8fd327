package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/wxfleet/wxfleet/store"
)

// migrateCommand runs `wxfleet migrate --status` or `--to N` on an open store.
func migrateCommand(ctx context.Context, st *store.Store, status bool, to int64, where string, stdout io.Writer) error {
	if status && to >= 0 {
		return errors.New("migrate: --status and --to do not go together")
	}
	if status {
		return printSchema(ctx, st, where, stdout)
	}
	applied, reverted, err := st.MigrateTo(ctx, to)
	for _, v := range applied {
		fmt.Fprintf(stdout, "applied  %d\n", v)
	}
	for _, v := range reverted {
		fmt.Fprintf(stdout, "reverted %d\n", v)
	}
	if err != nil {
		return err
	}
	if len(applied)+len(reverted) == 0 {
		fmt.Fprintf(stdout, "wxfleet schema already at version %d: nothing to do (%s)\n", to, where)
		return nil
	}
	fmt.Fprintf(stdout, "wxfleet schema now at version %d (%s)\n", to, where)
	return nil
}

// printSchema prints both migration lists. It fails (after printing) when
// the database is newer than this binary, so scripts can tell.
func printSchema(ctx context.Context, st *store.Store, where string, stdout io.Writer) error {
	s, err := st.Schema(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database %s\n", where)
	var newer error
	for _, part := range []struct {
		what string
		list []store.MigrationState
	}{{"wxfleet", s.Migrations}, {"River", s.River}} {
		cur, latest := store.Current(part.list), store.Latest(part.list)
		state := "up to date"
		pending := 0
		for _, m := range part.list {
			if !m.Applied {
				pending++
			}
		}
		switch {
		case cur > latest:
			state = "NEWER than this binary"
			newer = &store.NewerSchemaError{What: part.what, Database: cur, Known: latest}
		case pending > 0:
			state = fmt.Sprintf("%d pending: run `wxfleet migrate`", pending)
		}
		fmt.Fprintf(stdout, "\n%s schema: version %d, this binary knows up to %d (%s)\n", part.what, cur, latest, state)
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  VERSION\tSTATE\tAPPLIED AT\tNAME")
		for _, m := range part.list {
			at := "-"
			if !m.AppliedAt.IsZero() {
				at = m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			name, st := m.Name, "pending"
			switch {
			case m.Unknown:
				name, st = "(unknown to this binary: applied by a newer version)", "applied"
			case m.Applied:
				st = "applied"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", m.Version, st, at, name)
		}
		tw.Flush()
	}
	if newer != nil {
		fmt.Fprintln(stdout, "\n"+strings.TrimSpace(newer.Error()))
	}
	return newer
}
