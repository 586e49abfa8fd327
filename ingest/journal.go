// Package ingest keeps the push ingest's promise — stored before acknowledged —
// at the cost of one file append per batch instead of one database
// transaction. It is used with SQLite, whose commits (a B-tree insert per
// index, a write per touched page) cost more than the rest of a push.
//
// A Journal is an append-only log in front of the event table. Append adds a
// group of events to the current segment (on Linux a copy into a
// preallocated, memory-mapped file; elsewhere one write(2)), flushes it to
// disk with Options.Sync, and returns: that is the acknowledgement point. A
// background applier moves the journaled events into the database in large
// transactions; a segment is deleted once everything in it is applied. After
// a crash, Open replays the segments left behind (the database skips events
// it already has: every event has a unique dedup key), so an acknowledged
// push is never lost:
//
//   - a crash of the process loses nothing: what was appended is in the
//     operating system's page cache (a shared file mapping's pages are the
//     file's), as a SQLite commit in WAL mode with synchronous=NORMAL is;
//   - with Options.Sync (SQLite's synchronous=full), each append is also
//     flushed to disk (msync or fdatasync), so it survives a power loss.
//
// Readers that need to see every acknowledged event call Sync first, which
// waits for the applier to catch up; push.Ingest, the one way the platform
// reads events, does so on every read. The applier may lag
// by at most Options.MaxLag events: beyond that Append waits, so the lag (and
// what a crash leaves to replay) stays bounded and a sustained load pays the
// database's cost in full instead of piling it up.
//
// Duplicates (WeChat retries a push it got no answer for, up to three times
// in about 15 s) are told apart in memory by (component appid, dedup key)
// over a window of Options.Window, seeded at start from the journal and the
// newest stored events. A retry arriving later than that is still stored only
// once (the database's unique key), but reported as new.
package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxfleet/wxfleet"
)

// Target is the database the journal applies to.
type Target interface {
	// AddEvents stores evs in one transaction, skipping dedup keys already
	// stored.
	AddEvents(ctx context.Context, evs []*wxfleet.Event) error
}

// Options configure a Journal. Path is required; zero values elsewhere take
// the defaults.
type Options struct {
	// Path is the segment files' prefix: segments are Path.000001.log, ...
	Path string
	// Sync fdatasyncs every append (and the directory when a segment is
	// created), so an acknowledged push survives a power loss.
	Sync bool
	// MaxLag is how many appended events may wait for the applier before
	// Append blocks (default 8192).
	MaxLag int
	// ApplyBatch is the most events one database transaction carries
	// (default 1024), spreadBatch times that when the pushes come from many
	// mini programs. Large transactions pay most there: each transaction
	// rewrites every index page it touches, and with 50 apps a 1024-event
	// transaction cost 22–24 µs an event against 27–30 µs for 256 (one app:
	// 11–13 µs either way). For one app, larger ones (2048, 4096) raised the
	// ingest's p99 latency (the applier holds a CPU longer) without a clear
	// gain.
	ApplyBatch int
	// ApplyDelay is how long the applier lets events gather before a
	// transaction smaller than half of ApplyBatch (default 100 ms). Sync and
	// Close cut it short.
	ApplyDelay time.Duration
	// SegmentSize is the size after which appends go to a new segment
	// (default 16 MiB: about a second of pushes at full load; on Linux each
	// segment is preallocated at this size, so it is also the journal's
	// footprint on disk when idle).
	SegmentSize int64
	// Window is how long a dedup key is remembered (default 1 minute; keys
	// are kept for between one and two windows). WeChat's last retry comes
	// about 15 s after the first attempt.
	Window time.Duration
	// Recent returns the keys (component appid + "\x00" + dedup key) of
	// events stored since the given time, to seed duplicate detection at start.
	Recent func(ctx context.Context, since time.Time) ([]string, error)
	// Observe, if set, is told the number of records of each write.
	Observe func(records int)
	Now     func() time.Time
	Logger  *slog.Logger
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("ingest: journal closed")

// Journal is the ingest's write-ahead log. It is safe for concurrent use:
// concurrent Appends share a write (see Append).
type Journal struct {
	target Target
	opts   Options
	logger *slog.Logger

	// Owned by the writing caller (see Append), and by Open and Close.
	seg   segmentFile
	segNo int

	mu           sync.Mutex
	writing      bool             // a caller is writing pending groups
	group        *group           // the callers whose records are pending
	inflight     *group           // the write under way, if any
	beforeWrite  func()           // tests: runs before each write, outside the lock
	pending      []*wxfleet.Event // records gathered for the next write
	pendingBuf   []byte           // their encoding
	sparePending []*wxfleet.Event
	spareBuf     []byte
	broken       error            // a failed write could not be undone: refuse appends
	spare        segmentFile      // an applied segment, wiped, kept for the next rotation (mapped segments only)
	queue        []*wxfleet.Event // appended, not yet applied, in order
	appended     uint64           // events appended since Open
	applied      uint64           // events applied since Open
	segments     []segment        // finished segments waiting to be fully applied
	seeds        [2]maphash.Seed  // for dedupKey
	keys         map[dedupKey]struct{}
	oldKeys      map[dedupKey]struct{}
	keysAt       time.Time
	closed       bool          // no more appends
	draining     bool          // closed and no write in progress: the applier may finish once the queue is empty
	progress     chan struct{} // closed and replaced whenever applied advances or the journal closes
	work         chan struct{} // wakes the applier: events appended
	hurry        chan struct{} // wakes the applier: someone waits (Sync, Close)
	stop         chan struct{} // closed by Close when the applier must give up retrying
	done         chan struct{} // closed when the applier has returned
}

type segment struct {
	file    segmentFile
	lastSeq uint64 // appended count after its last event
}

// segmentMagic starts every segment: format and version.
const segmentMagic = "WXFJRNL1"

// maxRecord bounds one record's body: pushes are at most 1 MiB.
const maxRecord = 4 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Open replays what earlier runs left in the journal into target, seeds the
// duplicate window, and starts a journal with a fresh segment.
func Open(ctx context.Context, target Target, opts Options) (*Journal, error) {
	if opts.Path == "" {
		return nil, errors.New("ingest: journal path required")
	}
	if opts.MaxLag <= 0 {
		opts.MaxLag = 8192
	}
	if opts.ApplyBatch <= 0 {
		opts.ApplyBatch = 1024
	}
	if opts.ApplyDelay <= 0 {
		opts.ApplyDelay = 100 * time.Millisecond
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 16 << 20
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	j := &Journal{
		target: target, opts: opts, logger: opts.Logger,
		keys: map[dedupKey]struct{}{}, oldKeys: map[dedupKey]struct{}{},
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, keysAt: opts.Now(),
		group:    &group{done: make(chan struct{})},
		progress: make(chan struct{}), work: make(chan struct{}, 1), hurry: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if opts.Recent != nil {
		keys, err := opts.Recent(ctx, opts.Now().Add(-opts.Window))
		if err != nil {
			return nil, fmt.Errorf("ingest: reading recent events: %w", err)
		}
		for _, k := range keys {
			comp, dedup, _ := strings.Cut(k, "\x00")
			j.keys[j.dedupKey(comp, dedup)] = struct{}{}
		}
	}
	last, err := j.replay(ctx)
	if err != nil {
		return nil, err
	}
	if err := j.openSegment(last+1, 0); err != nil {
		return nil, err
	}
	go j.apply()
	return j, nil
}

// segmentFiles lists the journal's segments in order, with their numbers.
func segmentFiles(prefix string) ([]string, []int, error) {
	matches, err := filepath.Glob(prefix + ".*.log")
	if err != nil {
		return nil, nil, err
	}
	type seg struct {
		path string
		no   int
	}
	var segs []seg
	for _, m := range matches {
		mid := strings.TrimSuffix(strings.TrimPrefix(m, prefix+"."), ".log")
		n, err := strconv.Atoi(mid)
		if err != nil || n <= 0 {
			continue
		}
		segs = append(segs, seg{m, n})
	}
	slices.SortFunc(segs, func(a, b seg) int { return a.no - b.no })
	paths, nos := make([]string, len(segs)), make([]int, len(segs))
	for i, s := range segs {
		paths[i], nos[i] = s.path, s.no
	}
	return paths, nos, nil
}

// replay applies every segment left on disk, then deletes them. It returns
// the highest segment number seen.
func (j *Journal) replay(ctx context.Context) (int, error) {
	paths, nos, err := segmentFiles(j.opts.Path)
	if err != nil {
		return 0, fmt.Errorf("ingest: listing journal segments: %w", err)
	}
	last := 0
	total := 0
	since := j.opts.Now().Add(-j.opts.Window)
	for i, path := range paths {
		last = nos[i]
		evs, torn, err := readSegment(path)
		if err != nil {
			return 0, err
		}
		if torn > 0 {
			// Only a write that never returned can be torn, and its pushes
			// were never acknowledged: WeChat retries them.
			j.logger.Warn("ingest journal: dropping an unfinished record at the end of a segment (never acknowledged)",
				"segment", filepath.Base(path), "bytes", torn)
		}
		for start := 0; start < len(evs); start += j.opts.ApplyBatch {
			batch := evs[start:min(len(evs), start+j.opts.ApplyBatch)]
			if err := j.store(ctx, batch); err != nil {
				return 0, fmt.Errorf("ingest: replaying journal segment %s: %w", filepath.Base(path), err)
			}
		}
		for _, ev := range evs {
			if !ev.ReceivedAt.Before(since) {
				j.keys[j.eventKey(ev)] = struct{}{}
			}
		}
		total += len(evs)
	}
	if len(paths) > 0 {
		j.logger.Info("ingest journal: replayed what the last run had not yet moved to the database",
			"segments", len(paths), "events", total)
	}
	for _, path := range paths {
		if err := os.Remove(path); err != nil {
			return 0, fmt.Errorf("ingest: removing replayed segment: %w", err)
		}
	}
	return last, nil
}

// readSegment decodes a segment's records. torn is the number of bytes after
// the last whole record.
func readSegment(path string) (evs []*wxfleet.Event, torn int, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("ingest: reading journal segment: %w", err)
	}
	evs, torn, err = parseSegment(data)
	if err != nil {
		return nil, 0, fmt.Errorf("ingest: journal segment %s: %w", path, err)
	}
	return evs, torn, nil
}

// parseSegment decodes a segment's bytes. Zeros after the last whole record
// are the end (segments are preallocated; a record is never empty, so a zero
// header is not one). Anything else there is torn: a write cut short by a
// crash, never acknowledged; torn counts its bytes.
func parseSegment(data []byte) (evs []*wxfleet.Event, torn int, err error) {
	if len(data) < len(segmentMagic) {
		return nil, len(data), nil // created, header not (fully) written
	}
	if string(data[:len(segmentMagic)]) != segmentMagic {
		return nil, 0, errors.New("not a wxfleet journal segment (bad header); move it away to start")
	}
	rest := data[len(segmentMagic):]
	for len(rest) > 0 {
		if len(rest) < 8 {
			return evs, tornBytes(rest), nil
		}
		n := binary.LittleEndian.Uint32(rest)
		sum := binary.LittleEndian.Uint32(rest[4:])
		if n == 0 || n > maxRecord || int(n) > len(rest)-8 || crc32.Checksum(rest[8:8+n], crcTable) != sum {
			return evs, tornBytes(rest), nil
		}
		ev, err := decode(rest[8 : 8+n])
		if err != nil {
			// The checksum matched, so this is not a torn write.
			return nil, 0, err
		}
		evs = append(evs, ev)
		rest = rest[8+n:]
	}
	return evs, 0, nil
}

// tornBytes is len(rest), or 0 when rest is all zeros (the unused end of a
// preallocated segment).
func tornBytes(rest []byte) int {
	for _, b := range rest {
		if b != 0 {
			return len(rest)
		}
	}
	return 0
}

func (j *Journal) openSegment(no int, capacity int64) error {
	path := fmt.Sprintf("%s.%06d.log", j.opts.Path, no)
	seg, err := createSegment(path, max(capacity, j.opts.SegmentSize))
	if err != nil {
		return err
	}
	if j.opts.Sync {
		if err := seg.sync(); err != nil {
			seg.close()
			return fmt.Errorf("ingest: syncing journal segment: %w", err)
		}
		if d, err := os.Open(filepath.Dir(path)); err == nil {
			err = d.Sync()
			d.Close()
			if err != nil {
				seg.close()
				return fmt.Errorf("ingest: syncing journal directory: %w", err)
			}
		}
	}
	j.seg, j.segNo = seg, no
	return nil
}

// dedupKey stands for an event's (component appid, dedup key) in the
// duplicate window: two 64-bit hashes with seeds of this journal's own. At
// full load the window holds millions of keys; as strings each cost an
// allocation, a pointer for the garbage collector to follow, and a second
// cache miss per lookup to compare it. Two keys agree by chance with
// probability 2⁻¹²⁸ (the seeds are random, so no sender can aim for it).
type dedupKey [2]uint64

type compKey struct{ comp, dedup string }

func (j *Journal) dedupKey(comp, dedup string) dedupKey {
	k := compKey{comp, dedup}
	return dedupKey{maphash.Comparable(j.seeds[0], k), maphash.Comparable(j.seeds[1], k)}
}

func (j *Journal) eventKey(ev *wxfleet.Event) dedupKey {
	return j.dedupKey(ev.ComponentAppID, ev.DedupKey)
}

// Record journals one push and reports whether it was new; it is what the
// push receiver calls for every push. Concurrent calls are written together
// (group commit): while one caller writes, the others' records gather, and
// the next write takes them all.
func (j *Journal) Record(ctx context.Context, ev *wxfleet.Event) (inserted bool, err error) {
	ins, err := j.Append(ctx, []*wxfleet.Event{ev})
	if err != nil {
		return false, err
	}
	return ins[0], nil
}

// Append journals evs and reports which were new (false: the dedup key was
// seen within the window, or earlier in evs). When it returns without error
// the new events are durable; they reach the database shortly after. Each
// event's ID stays 0: ids are assigned when applied. Safe for concurrent use.
func (j *Journal) Append(ctx context.Context, evs []*wxfleet.Event) (inserted []bool, err error) {
	for _, ev := range evs {
		if ev == nil || ev.ComponentAppID == "" || ev.DedupKey == "" {
			return nil, errors.New("ingest: an event needs a component_appid and a dedup key")
		}
	}
	inserted = make([]bool, len(evs))
	var one [1]dedupKey
	ks := one[:0]
	if len(evs) > 1 {
		ks = make([]dedupKey, 0, len(evs))
	}
	for _, ev := range evs {
		ks = append(ks, j.eventKey(ev)) // outside the lock
	}
	j.mu.Lock()
	for len(j.queue)+len(j.pending) >= j.opts.MaxLag && !j.closed && j.broken == nil {
		wait := j.progress
		j.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		j.mu.Lock()
	}
	if j.closed {
		j.mu.Unlock()
		return nil, ErrClosed
	}
	if j.broken != nil {
		err := j.broken
		j.mu.Unlock()
		return nil, err
	}
	if now := j.opts.Now(); now.Sub(j.keysAt) >= j.opts.Window {
		j.oldKeys, j.keys, j.keysAt = j.keys, make(map[dedupKey]struct{}, len(j.keys)), now
	}
	fresh := 0
	var dups []int // events whose key was seen: its write may still be under way
	for i, ev := range evs {
		k := ks[i]
		if _, ok := j.keys[k]; ok {
			dups = append(dups, i)
			continue
		}
		if _, ok := j.oldKeys[k]; ok {
			dups = append(dups, i)
			continue
		}
		j.keys[k] = struct{}{}
		inserted[i] = true
		fresh++
		cp := *ev // the applier sets ID on its own copy; the caller keeps reading ev
		j.pending = append(j.pending, &cp)
		j.pendingBuf = appendRecord(j.pendingBuf, ev)
	}
	// A duplicate is acknowledged as stored, so it must not return before
	// the write carrying its original has: wait for the newest write pending
	// now (writes finish in order), then see whether the original made it.
	var before *group
	if len(dups) > 0 {
		if len(j.pending) > fresh {
			before = j.group
		} else if j.inflight != nil {
			before = j.inflight
		}
	}
	g := j.group
	if fresh > 0 && !j.writing {
		// Nobody is writing: this caller writes, its own records and those
		// that gather meanwhile, until none are left.
		j.writing = true
		for len(j.pending) > 0 {
			j.flushLocked()
		}
		j.writing = false
		j.mu.Unlock()
	} else {
		j.mu.Unlock()
		if fresh > 0 {
			<-g.done
		}
	}
	if fresh > 0 && g.err != nil {
		return nil, g.err
	}
	if before != nil {
		<-before.done
		// A failed write forgets its keys: an original lost that way is not
		// stored, so its duplicate is journaled now in its place.
		var again []*wxfleet.Event
		var at []int
		j.mu.Lock()
		for _, i := range dups {
			k := ks[i]
			_, ok := j.keys[k]
			if _, old := j.oldKeys[k]; !ok && !old {
				again, at = append(again, evs[i]), append(at, i)
			}
		}
		j.mu.Unlock()
		if len(again) > 0 {
			ins, err := j.Append(ctx, again)
			if err != nil {
				return nil, err
			}
			for n, i := range at {
				inserted[i] = ins[n]
			}
		}
	}
	return inserted, nil
}

// group is one write's worth of records and the callers waiting for it.
type group struct {
	done chan struct{}
	err  error
}

// flushLocked writes what is pending, with j.mu held on entry and on return
// (released during the write).
func (j *Journal) flushLocked() {
	g, evs, buf := j.group, j.pending, j.pendingBuf
	j.group = &group{done: make(chan struct{})}
	j.inflight = g
	j.pending, j.pendingBuf = j.sparePending[:0], j.spareBuf[:0]
	j.mu.Unlock()
	if j.beforeWrite != nil {
		j.beforeWrite()
	}
	err := j.write(buf)
	if j.opts.Observe != nil {
		j.opts.Observe(len(evs))
	}
	j.mu.Lock()
	if err != nil {
		for _, ev := range evs {
			delete(j.keys, j.eventKey(ev))
		}
	} else {
		j.queue = append(j.queue, evs...)
		j.appended += uint64(len(evs))
		j.wake(j.work)
	}
	clear(evs)
	j.sparePending, j.spareBuf = evs[:0], buf[:0]
	g.err = err
	close(g.done)
	if j.inflight == g {
		j.inflight = nil
	}
}

// write appends buf (whole records) to the current segment in one write,
// starting a new segment first when the current one is full. Only the
// writing caller runs it.
func (j *Journal) write(buf []byte) error {
	if j.broken != nil {
		return j.broken
	}
	if j.seg != nil && (j.seg.size() >= j.opts.SegmentSize || int64(len(buf)) > j.seg.room()) {
		// The full segment stays open until its pushes are applied; then it
		// is deleted, or wiped and kept as the spare.
		j.mu.Lock()
		j.segments = append(j.segments, segment{file: j.seg, lastSeq: j.appended})
		spare := j.spare
		j.spare = nil
		j.mu.Unlock()
		j.seg = nil
		if spare != nil {
			if capacity := spare.size() + spare.room(); int64(len(segmentMagic)+len(buf)) <= capacity {
				if err := spare.reuse(fmt.Sprintf("%s.%06d.log", j.opts.Path, j.segNo+1)); err == nil {
					j.seg = spare
					j.segNo++
				} else {
					j.logger.Warn("ingest journal: reusing a segment", "err", err)
					removeSegment(spare, j.logger)
				}
			} else {
				removeSegment(spare, j.logger)
			}
		}
	}
	if j.seg == nil {
		// A new segment may fail (a full disk): the pushes get a 500 and
		// WeChat retries them; the next write tries again, under a new
		// number in case the failed attempt left a file behind.
		if err := j.openSegment(j.segNo+1, int64(len(segmentMagic)+len(buf))); err != nil {
			j.segNo++
			j.logger.Error("ingest journal: cannot start a new segment; pushes are refused until one can be", "err", err)
			return err
		}
	}
	undone, err := j.seg.append(buf)
	if err == nil && j.opts.Sync {
		err = j.seg.sync()
		// Appended but not synced: replay would still apply it, which is
		// harmless (the pushes are answered 500 and WeChat retries them;
		// the dedup key stores them once).
	}
	if err != nil {
		if !undone {
			j.setBroken(fmt.Errorf("ingest: journal write failed and could not be undone; restart to recover: %w", err))
		}
		return fmt.Errorf("ingest: writing the journal: %w", err)
	}
	return nil
}

// removeSegment closes a segment that is no longer needed and deletes it.
func removeSegment(seg segmentFile, logger *slog.Logger) {
	if err := seg.close(); err != nil {
		logger.Warn("ingest journal: closing an applied segment", "err", err)
	}
	if err := os.Remove(seg.name()); err != nil {
		logger.Warn("ingest journal: removing an applied segment", "err", err)
	}
}

func (j *Journal) setBroken(err error) {
	j.mu.Lock()
	j.broken = err
	j.mu.Unlock()
}

// apply moves journaled events into the database until the journal closes
// and everything is applied (or Close gives up).
func (j *Journal) apply() {
	defer close(j.done)
	batch := make([]*wxfleet.Event, 0, j.opts.ApplyBatch)
	backoff := 50 * time.Millisecond
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		j.mu.Lock()
		queued, closed := len(j.queue), j.draining
		size := j.opts.ApplyBatch
		if queued > 0 && manyApps(j.queue[:min(queued, 256)]) { // a sample is enough
			size *= spreadBatch
		}
		j.mu.Unlock()
		if queued == 0 {
			if closed {
				return
			}
			select {
			case <-j.work:
			case <-j.hurry:
			case <-j.stop:
				return
			}
			continue
		}
		// A transaction's fixed cost is most of a small one's: let events
		// gather, unless there are enough already or someone waits.
		if queued < size/2 && !closed {
			timer.Reset(j.opts.ApplyDelay)
		gather:
			for {
				select {
				case <-j.work:
					j.mu.Lock()
					queued = len(j.queue)
					j.mu.Unlock()
					if queued >= size/2 {
						break gather
					}
				case <-j.hurry:
					break gather
				case <-timer.C:
					break gather
				case <-j.stop:
					return
				}
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		j.mu.Lock()
		batch = append(batch[:0], j.queue[:min(len(j.queue), size)]...)
		j.mu.Unlock()

		if err := j.store(context.Background(), batch); err != nil {
			// The events are safe in the journal: keep trying.
			j.logger.Error("ingest journal: moving pushes to the database failed; retrying", "events", len(batch), "err", err)
			select {
			case <-time.After(backoff):
			case <-j.stop:
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond

		j.mu.Lock()
		n := copy(j.queue, j.queue[len(batch):])
		clear(j.queue[n:])
		j.queue = j.queue[:n]
		j.applied += uint64(len(batch))
		var done []segmentFile
		for len(j.segments) > 0 && j.segments[0].lastSeq <= j.applied {
			done = append(done, j.segments[0].file)
			j.segments = j.segments[1:]
		}
		wantSpare := j.spare == nil && !j.opts.Sync
		close(j.progress)
		j.progress = make(chan struct{})
		j.mu.Unlock()
		for _, seg := range done {
			// Keep one for reuse (not with Sync: its zeros would have to
			// reach the disk before reuse, or a power loss could bring back
			// applied pushes; the database would skip them, but still).
			if wantSpare && seg.recyclable() {
				seg.wipe()
				j.mu.Lock()
				if j.spare == nil && !j.closed {
					j.spare, seg = seg, nil
				}
				j.mu.Unlock()
				wantSpare = false
				if seg == nil {
					continue
				}
			}
			removeSegment(seg, j.logger)
		}
	}
}

// spreadBatch is how many times ApplyBatch a transaction may carry when its
// pushes come from many mini programs (manyApps). Each transaction rewrites
// one page of the per-app index for every mini program in it, so with many
// of them a larger transaction spreads that cost over more pushes: with 1000
// mini programs an event cost 12.4 µs in 4096-event transactions against
// 19 µs in 1024-event ones. With few mini programs the larger transactions
// gained nothing and held the CPU longer, so they are kept for this case.
const spreadBatch = 4

// manyApps tells whether evs come from many mini programs: more than one
// for every 16 events (and more than 8).
func manyApps(evs []*wxfleet.Event) bool {
	limit := max(len(evs)/16, 8)
	seen := make(map[string]struct{}, limit+1)
	for _, ev := range evs {
		seen[ev.AppID] = struct{}{}
		if len(seen) > limit {
			return true
		}
	}
	return false
}

// Sync waits until every event appended before the call is in the database.
func (j *Journal) Sync(ctx context.Context) error {
	j.mu.Lock()
	target := j.appended
	for j.applied < target {
		wait := j.progress
		j.mu.Unlock()
		j.wake(j.hurry)
		select {
		case <-wait:
		case <-j.done:
			j.mu.Lock()
			behind := j.applied < target
			j.mu.Unlock()
			if behind {
				return ErrClosed
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		j.mu.Lock()
	}
	j.mu.Unlock()
	return nil
}

func (j *Journal) wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Backlog is how many journaled events are not yet in the database.
func (j *Journal) Backlog() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.queue)
}

// ErrFull is Health's answer when the backlog is at MaxLag: new pushes wait
// for the database to catch up.
var ErrFull = errors.New("ingest: journal backlog at its cap; pushes wait for the database")

// Health reports why the journal cannot take pushes now: a write that could
// not be undone (restart to recover), or a backlog at its cap. nil: it can.
func (j *Journal) Health() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.broken != nil {
		return j.broken
	}
	if len(j.queue)+len(j.pending) >= j.opts.MaxLag {
		return ErrFull
	}
	return nil
}

// Close stops appends, waits (until ctx ends) for the applier to move the
// rest to the database, then deletes the segments. What is left when ctx
// ends stays in the journal and is replayed by the next Open.
func (j *Journal) Close(ctx context.Context) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		<-j.done
		return nil
	}
	j.closed = true
	// A write under way finishes first: its records must reach the queue
	// before the applier may stop at an empty one.
	for j.writing {
		j.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
		j.mu.Lock()
	}
	j.draining = true
	close(j.progress) // wake appenders waiting on the lag
	j.progress = make(chan struct{})
	j.mu.Unlock()
	j.wake(j.hurry)
	var err error
	select {
	case <-j.done:
	case <-ctx.Done():
		close(j.stop)
		<-j.done
		err = fmt.Errorf("ingest: %d pushes left in the journal, to be replayed at the next start: %w", j.Backlog(), ctx.Err())
	}
	if j.seg != nil {
		if cerr := j.seg.close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	j.mu.Lock()
	open := []segmentFile{}
	if j.spare != nil {
		open = append(open, j.spare)
		j.spare = nil
	}
	for _, sg := range j.segments {
		open = append(open, sg.file)
	}
	j.mu.Unlock()
	for _, sg := range open {
		sg.close()
	}
	if err != nil {
		return err
	}
	// Everything is applied: the segments are no longer needed.
	paths, _, lerr := segmentFiles(j.opts.Path)
	if lerr != nil {
		return lerr
	}
	for _, p := range paths {
		if rerr := os.Remove(p); rerr != nil {
			return rerr
		}
	}
	return nil
}

// store inserts batch into the database. An event the database refuses as
// invalid (its platform was removed from the configuration, say) would block
// the journal forever: such events are stored one by one and the refused
// ones dropped, each with an error in the log.
func (j *Journal) store(ctx context.Context, batch []*wxfleet.Event) error {
	err := j.target.AddEvents(ctx, batch)
	if err == nil || !refused(err) {
		return err
	}
	for _, ev := range batch {
		if err := j.target.AddEvents(ctx, []*wxfleet.Event{ev}); err != nil {
			if !refused(err) {
				return err
			}
			j.logger.Error("ingest journal: the database refuses a journaled push; dropping it",
				"component_appid", ev.ComponentAppID, "appid", ev.AppID, "type", ev.Type, "dedup_key", ev.DedupKey, "err", err)
		}
	}
	return nil
}

func refused(err error) bool {
	code := wxfleet.ErrorCode(err)
	return code == wxfleet.EINVALID || code == wxfleet.ENOTFOUND
}

// appendRecord adds one record: body length and CRC-32C, then the body.
func appendRecord(b []byte, ev *wxfleet.Event) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = appendString(b, ev.ComponentAppID)
	b = appendString(b, ev.AppID)
	b = appendString(b, ev.Type)
	b = appendString(b, ev.DedupKey)
	b = binary.AppendVarint(b, unixNano(ev.CreateTime))
	b = binary.AppendVarint(b, unixNano(ev.ReceivedAt))
	b = binary.AppendUvarint(b, uint64(len(ev.Payload)))
	b = append(b, ev.Payload...)
	body := b[start+8:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(body, crcTable))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

var errRecord = errors.New("malformed record")

func decode(b []byte) (*wxfleet.Event, error) {
	var ev wxfleet.Event
	var ok bool
	take := func() string {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			ok = false
			return ""
		}
		s := string(b[k : k+int(n)])
		b = b[k+int(n):]
		return s
	}
	varint := func() int64 {
		v, k := binary.Varint(b)
		if k <= 0 {
			ok = false
			return 0
		}
		b = b[k:]
		return v
	}
	ok = true
	ev.ComponentAppID = take()
	ev.AppID = take()
	ev.Type = take()
	ev.DedupKey = take()
	ev.CreateTime = fromUnixNano(varint())
	ev.ReceivedAt = fromUnixNano(varint())
	payload := take()
	if !ok || len(b) != 0 || ev.ComponentAppID == "" || ev.DedupKey == "" {
		return nil, errRecord
	}
	ev.Payload = []byte(payload)
	return &ev, nil
}
