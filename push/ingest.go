package push

import (
	"context"
	"log/slog"
	"time"

	"github.com/wxfleet/wxfleet"
	"github.com/wxfleet/wxfleet/ingest"
	"github.com/wxfleet/wxfleet/store"
)

// Database is what the ingest needs of the store.
type Database interface {
	EventStore
	ingest.Target
	Dialect() string
	Path() string
	SyncFull() bool
	RecentEventKeys(ctx context.Context, since time.Time, limit int) ([]string, error)
	Event(ctx context.Context, componentAppID string, id int64) (*wxfleet.Event, error)
	ListEvents(ctx context.Context, componentAppID string, f store.EventFilter) ([]*wxfleet.Event, int, error)
}

// IngestOptions configure OpenIngest.
type IngestOptions struct {
	Observe func(batch int) // told the size of each write (metrics); may be nil
	Now     func() time.Time
	Logger  *slog.Logger
}

// Ingest is where acknowledged pushes go, and the one way to read them back.
//
// On SQLite the pushes go through the ingest journal: an acknowledged push
// costs one file append, and the database gets them in large transactions
// (see package ingest). PostgreSQL is shared by several instances, so each
// group commit goes to the database itself: a journal on one machine's disk
// would tie acknowledged pushes to that machine.
//
// A journaled push is acknowledged before it is in the database, so reading
// the events table alone could miss it: Event and ListEvents first wait
// until every push acknowledged before the call is there. Every reader of
// events goes through them, and none has to remember to wait.
type Ingest struct {
	db        Database
	journal   *ingest.Journal // SQLite
	committer *Committer      // PostgreSQL
}

// OpenIngest opens the recorder that suits db: on SQLite it replays what an
// earlier run left in the journal before it returns.
func OpenIngest(ctx context.Context, db Database, opts IngestOptions) (*Ingest, error) {
	in := &Ingest{db: db}
	if db.Dialect() != store.DialectSQLite {
		in.committer = NewCommitter(db, 256, opts.Observe)
		return in, nil
	}
	j, err := ingest.Open(ctx, db, ingest.Options{
		Path: db.Path() + "-ingest",
		Sync: db.SyncFull(),
		Recent: func(ctx context.Context, since time.Time) ([]string, error) {
			return db.RecentEventKeys(ctx, since, 200_000)
		},
		Observe: opts.Observe,
		Now:     opts.Now,
		Logger:  opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	in.journal = j
	return in, nil
}

// Record implements Recorder: it returns once ev is durable.
func (in *Ingest) Record(ctx context.Context, ev *wxfleet.Event) (inserted bool, err error) {
	if in.journal != nil {
		return in.journal.Record(ctx, ev)
	}
	return in.committer.Record(ctx, ev)
}

// Arriving passes the receiver's hint on to the committer (see Committer.Arriving).
func (in *Ingest) Arriving() {
	if in.committer != nil {
		in.committer.Arriving()
	}
}

// Arrived ends what Arriving began.
func (in *Ingest) Arrived() {
	if in.committer != nil {
		in.committer.Arrived()
	}
}

// sync waits until every push acknowledged so far is in the database.
func (in *Ingest) sync(ctx context.Context) error {
	if in.journal == nil {
		return nil // the committer acknowledges only what it committed
	}
	if err := in.journal.Sync(ctx); err != nil {
		return wxfleet.WrapError(wxfleet.EUNAVAILABLE, "事件尚未写入数据库 / pushes not yet in the database", err)
	}
	return nil
}

// ListEvents returns a page of a platform's events, newest first, with every
// push acknowledged before the call (store.Store.ListEvents).
func (in *Ingest) ListEvents(ctx context.Context, componentAppID string, f store.EventFilter) ([]*wxfleet.Event, int, error) {
	if err := in.sync(ctx); err != nil {
		return nil, 0, err
	}
	return in.db.ListEvents(ctx, componentAppID, f)
}

// Event returns one stored push of a platform (store.Store.Event), waiting
// for the pushes acknowledged before the call.
func (in *Ingest) Event(ctx context.Context, componentAppID string, id int64) (*wxfleet.Event, error) {
	if err := in.sync(ctx); err != nil {
		return nil, err
	}
	return in.db.Event(ctx, componentAppID, id)
}

// Backlog is how many acknowledged pushes are not yet in the database (the
// journal's; always 0 on PostgreSQL).
func (in *Ingest) Backlog() int {
	if in.journal == nil {
		return 0
	}
	return in.journal.Backlog()
}

// Health reports why pushes cannot be recorded now (the journal's health;
// always nil on PostgreSQL, whose health is the database's).
func (in *Ingest) Health() error {
	if in.journal == nil {
		return nil
	}
	return in.journal.Health()
}

// Close stops recording; it lets the committer store what is queued, or the
// journal move what it can into the database until ctx ends (the rest is
// replayed by the next OpenIngest).
func (in *Ingest) Close(ctx context.Context) error {
	if in.committer != nil {
		in.committer.Close()
		return nil
	}
	return in.journal.Close(ctx)
}
