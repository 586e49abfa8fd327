package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"
)

// SQLite's WAL, kept small. The writer checkpoints by itself only every
// 10 000 pages (wal_autocheckpoint, ≈80 MiB with 8 KiB pages): every 2000
// pages bounded the WAL at 16 MiB but cost the ingest path ≈15–40 %, most
// with pushes from 1000 mini programs (each checkpoint copies their index
// pages again). And a WAL file, once grown, kept its size for good: ≈82 MB
// beside a 4.6 MB database. Now a checkpointer looks at the WAL every
// checkpointInterval:
//   - idle (the WAL file did not change for a whole interval): it copies
//     what is left into the database and truncates the WAL to zero bytes
//     (wal_checkpoint(TRUNCATE), on a connection of its own);
//   - light writes (a few pages a second, such as token refreshes): it
//     copies them (PASSIVE) through the write connection, between two of
//     the writer's transactions, and if that left nothing to copy and the
//     file is larger than walLimit, truncates it as when idle;
//   - a burst (the file grew by more than busyFrames pages in an interval,
//     or a PASSIVE found that many new): it leaves the WAL to the writer's
//     own checkpoint and looks again only after busyBackoff. During a burst
//     the writer works exactly as it did before.
//
// The PASSIVE checkpoint goes through the write connection because, run on
// a connection of its own during a burst (tried first), it held the
// checkpoint lock for seconds, the writer's own checkpoints were skipped,
// and the WAL grew past 140 MiB. SQLite's journal_size_limit, tried too,
// cuts the file back each time the writer starts the WAL over, so a burst
// then grows the file again instead of overwriting it: it is not set.
//
// So the WAL reaches ≈80 MiB only during a burst, goes back under walLimit
// under light writes, and is empty a couple of seconds after the writes
// stop.
const (
	walLimit           = 16 << 20
	checkpointInterval = time.Second
	busyFrames         = 1000 // pages (8 MiB) in one interval
	busyBackoff        = 10 * time.Second
)

// sqliteCheckpointParams configure the checkpointer's connection. Its busy
// timeout is short: TRUNCATE holds writers back while it waits for readers,
// so it rather gives up and tries again at the next idle interval.
const sqliteCheckpointParams = "_pragma=busy_timeout(100)&_pragma=synchronous(NORMAL)"

// checkpointer runs the WAL checkpoints of one SQLite database.
type checkpointer struct {
	db     *sql.DB
	cancel context.CancelFunc
	done   chan struct{}
}

// startCheckpointer opens the checkpointer's connection and starts it.
func (s *Store) startCheckpointer(path, sync string) error {
	db, err := sql.Open("sqlite", path+"?"+sqliteCheckpointParams)
	if err != nil {
		return fmt.Errorf("store: open SQLite %s for checkpoints: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if sync == "FULL" {
		if _, err := db.Exec("PRAGMA synchronous = FULL"); err != nil {
			db.Close()
			return fmt.Errorf("store: open SQLite %s for checkpoints: %w", path, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, cancel: cancel, done: make(chan struct{})}
	s.ckpt = c
	go func() {
		defer close(c.done)
		s.checkpointLoop(ctx, db, path+"-wal")
	}()
	return nil
}

func (s *Store) checkpointLoop(ctx context.Context, db *sql.DB, wal string) {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	var (
		last     os.FileInfo // the WAL file at the previous tick
		frames   int64       // pages in the WAL at the last PASSIVE
		passedAt time.Time   // when that was
		resume   time.Time   // after a burst: when to look again
	)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fi, err := os.Stat(wal)
			switch {
			case err != nil || fi.Size() == 0:
				last = nil
			case last != nil && fi.Size() == last.Size() && fi.ModTime().Equal(last.ModTime()):
				if s.runCheckpoint(ctx, db, "TRUNCATE", nil) {
					last, frames = nil, 0
				}
			case now.Before(resume):
				last = fi
			case last != nil && fi.Size()-last.Size() > busyFrames*sqlitePageSize:
				// Growing fast: a burst, the writer's business.
				last, resume = fi, now.Add(busyBackoff)
			default:
				last = fi
				prev, since := frames, now.Sub(passedAt)
				done := s.runCheckpoint(ctx, s.write, "PASSIVE", &frames)
				passedAt = now
				added := frames - prev
				if frames < prev { // the writer started the WAL over meanwhile
					added = frames
				}
				// New pages per interval, since the last PASSIVE.
				if since > 0 && float64(added)*float64(checkpointInterval)/float64(since) > busyFrames {
					resume = now.Add(busyBackoff)
				} else if done && fi.Size() > walLimit && s.runCheckpoint(ctx, db, "TRUNCATE", nil) {
					last, frames = nil, 0
				}
			}
		}
	}
}

// runCheckpoint runs one checkpoint, logging a failure; it reports whether
// the checkpoint finished, and stores the WAL's pages in frames (if given).
func (s *Store) runCheckpoint(ctx context.Context, db *sql.DB, mode string, frames *int64) bool {
	var busy, n, copied int64
	err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &n, &copied)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("SQLite WAL checkpoint failed; the WAL keeps its size until the next one", "mode", mode, "err", err)
		}
		return false
	}
	if frames != nil {
		*frames = n
	}
	return busy == 0
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	c.cancel()
	<-c.done
	return c.db.Close()
}
