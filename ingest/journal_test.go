package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxfleet/wxfleet"
)

// fakeDB is a Target that stores events by (component appid, dedup key), like
// the events table's unique key. It can be made to fail or to refuse events.
type fakeDB struct {
	mu      sync.Mutex
	rows    []wxfleet.Event
	keys    map[string]bool
	fail    error           // returned by every InsertEvents while set
	refuse  map[string]bool // dedup keys answered with EINVALID
	batches []int           // sizes of the successful transactions
	gate    chan struct{}   // when set, each InsertEvents waits for a token
}

// key is an event's key as Options.Recent reports it.
func key(ev *wxfleet.Event) string { return ev.ComponentAppID + "\x00" + ev.DedupKey }

func newFakeDB() *fakeDB { return &fakeDB{keys: map[string]bool{}, refuse: map[string]bool{}} }

func (db *fakeDB) AddEvents(ctx context.Context, evs []*wxfleet.Event) error {
	if db.gate != nil {
		select {
		case <-db.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.fail != nil {
		return db.fail
	}
	for _, ev := range evs {
		if db.refuse[ev.DedupKey] {
			return wxfleet.Errorf(wxfleet.EINVALID, "refused %s", ev.DedupKey)
		}
	}
	for _, ev := range evs {
		k := key(ev)
		if db.keys[k] {
			continue
		}
		db.keys[k] = true
		ev.ID = int64(len(db.rows) + 1)
		db.rows = append(db.rows, *ev)
	}
	db.batches = append(db.batches, len(evs))
	return nil
}

func (db *fakeDB) setFail(err error) {
	db.mu.Lock()
	db.fail = err
	db.mu.Unlock()
}

func (db *fakeDB) stored() []wxfleet.Event {
	db.mu.Lock()
	defer db.mu.Unlock()
	return append([]wxfleet.Event(nil), db.rows...)
}

var t0 = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)

func event(i int) *wxfleet.Event {
	return &wxfleet.Event{
		ComponentAppID: "wxcomponent01", AppID: "wxapp" + fmt.Sprint(i%3), Type: "text",
		DedupKey: fmt.Sprintf("m:%d", 1000+i), CreateTime: t0.Add(time.Duration(i) * time.Second),
		ReceivedAt: t0.Add(time.Duration(i)*time.Second + 1234567*time.Nanosecond),
		Payload:    []byte(fmt.Sprintf("<xml><Content><![CDATA[消息 %d]]></Content></xml>", i)),
	}
}

func events(from, n int) []*wxfleet.Event {
	out := make([]*wxfleet.Event, n)
	for i := range out {
		out[i] = event(from + i)
	}
	return out
}

func open(t *testing.T, db Target, opts Options) *Journal {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "db-ingest")
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	j, err := Open(t.Context(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func segments(t *testing.T, prefix string) []string {
	t.Helper()
	paths, _, err := segmentFiles(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestAppendSyncStoresEveryFieldAndTellsDuplicates(t *testing.T) {
	db := newFakeDB()
	j := open(t, db, Options{})
	batch := append(events(0, 3), event(1)) // the last repeats the second
	ins, err := j.Append(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ins) != "[true true true false]" {
		t.Fatalf("inserted = %v, want the repeat within the batch reported", ins)
	}
	ins, err = j.Append(t.Context(), []*wxfleet.Event{event(2), event(3)})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ins) != "[false true]" {
		t.Fatalf("inserted = %v, want the retry of an earlier batch reported", ins)
	}
	if batch[0].ID != 0 {
		t.Fatal("Append must not touch the caller's events (the applier works on copies)")
	}
	if err := j.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := db.stored()
	if len(got) != 4 {
		t.Fatalf("stored %d events, want 4", len(got))
	}
	for i, ev := range got {
		want := event(i)
		if ev.ComponentAppID != want.ComponentAppID || ev.AppID != want.AppID || ev.Type != want.Type ||
			ev.DedupKey != want.DedupKey || !ev.CreateTime.Equal(want.CreateTime) ||
			!ev.ReceivedAt.Equal(want.ReceivedAt) || !bytes.Equal(ev.Payload, want.Payload) {
			t.Fatalf("stored event %d = %+v, want %+v", i, ev, want)
		}
	}
	if err := j.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := segments(t, j.opts.Path); len(s) != 0 {
		t.Fatalf("segments left after a clean close: %v", s)
	}
	if _, err := j.Append(t.Context(), events(10, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
}

func TestApplierGathersEventsIntoLargeTransactions(t *testing.T) {
	db := newFakeDB()
	j := open(t, db, Options{ApplyBatch: 64, ApplyDelay: time.Hour})
	for i := range 100 {
		if _, err := j.Append(t.Context(), events(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	db.mu.Lock()
	batches := append([]int(nil), db.batches...)
	db.mu.Unlock()
	// With an hour's delay, only "half a batch gathered" or Sync start a
	// transaction: never one per append.
	if len(batches) > 4 {
		t.Fatalf("100 appends were applied in %d transactions %v; want them gathered", len(batches), batches)
	}
	j.Close(t.Context())
}

func TestCrashBeforeApplyReplaysAtOpen(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "db-ingest")
	down := newFakeDB()
	down.setFail(errors.New("database is locked"))
	j := open(t, down, Options{Path: prefix, SegmentSize: 2048})
	var acked []*wxfleet.Event
	for i := 0; i < 40; i += 4 {
		evs := events(i, 4)
		if _, err := j.Append(t.Context(), evs); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, evs...)
	}
	if n := len(segments(t, prefix)); n < 2 {
		t.Fatalf("%d segment(s) with a 2 KiB segment size; want the journal to have rotated", n)
	}
	// A crash: the process stops with nothing applied. Close with an expired
	// context is the nearest a test gets; it must leave the segments alone.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := j.Close(ctx); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Fatalf("Close with the database down = %v, want an error saying the rest is replayed at the next start", err)
	}
	if len(down.stored()) != 0 {
		t.Fatal("the failing database stored something")
	}

	db := newFakeDB()
	db.keys[key(acked[0])] = true // already applied before the crash
	db.rows = append(db.rows, *acked[0])
	j2 := open(t, db, Options{Path: prefix})
	got := db.stored()
	if len(got) != len(acked) {
		t.Fatalf("after replay the database has %d events, want the %d acknowledged ones", len(got), len(acked))
	}
	if s := segments(t, prefix); len(s) != 1 {
		t.Fatalf("segments after replay: %v; want only the new one", s)
	}
	// The replayed keys are remembered: WeChat's retry of an acked push is a duplicate.
	ins, err := j2.Append(t.Context(), []*wxfleet.Event{event(5), event(99)})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ins) != "[false true]" {
		t.Fatalf("inserted after replay = %v, want the replayed push known", ins)
	}
	j2.Close(t.Context())
}

func TestTornTailIsDroppedAndCorruptHeaderRefused(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "db-ingest")
	var buf []byte
	buf = append(buf, segmentMagic...)
	buf = appendRecord(buf, event(1))
	buf = appendRecord(buf, event(2))
	whole := len(buf)
	buf = appendRecord(buf, event(3))
	torn := buf[:whole+len(buf[whole:])/2] // a write cut in the middle
	if err := os.WriteFile(prefix+".000007.log", torn, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	db := newFakeDB()
	j := open(t, db, Options{Path: prefix, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if got := db.stored(); len(got) != 2 || got[1].DedupKey != event(2).DedupKey {
		t.Fatalf("replayed %d events, want the 2 whole records", len(got))
	}
	if !strings.Contains(logs.String(), "unfinished record") {
		t.Fatalf("no warning about the torn record in the log:\n%s", logs.String())
	}
	if s := segments(t, prefix); len(s) != 1 || !strings.HasSuffix(s[0], ".000008.log") {
		t.Fatalf("segments = %v, want a new one numbered after the replayed one", s)
	}
	j.Close(t.Context())

	// A flipped bit in a record's body fails its checksum: treated as torn.
	good := append([]byte(segmentMagic), appendRecord(nil, event(1))...)
	good[len(good)-3] ^= 0x40
	if err := os.WriteFile(prefix+".000009.log", good, 0o600); err != nil {
		t.Fatal(err)
	}
	db2 := newFakeDB()
	open(t, db2, Options{Path: prefix}).Close(t.Context())
	if n := len(db2.stored()); n != 0 {
		t.Fatalf("a record with a bad checksum was applied (%d events)", n)
	}

	if err := os.WriteFile(prefix+".000010.log", []byte("not a journal at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), newFakeDB(), Options{Path: prefix}); err == nil || !strings.Contains(err.Error(), "bad header") {
		t.Fatalf("Open over a foreign file = %v, want a refusal naming the bad header", err)
	}
}

// TestSpreadPushesMakeLargerTransactions: pushes from many mini programs go
// to the database in transactions of up to spreadBatch × ApplyBatch, pushes
// from one in transactions of up to ApplyBatch.
func TestSpreadPushesMakeLargerTransactions(t *testing.T) {
	for _, tt := range []struct {
		name string
		apps int
		max  int
	}{
		{"one mini program", 1, 16},
		{"many mini programs", 200, 16 * spreadBatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := newFakeDB()
			db.gate = make(chan struct{})
			j := open(t, db, Options{ApplyBatch: 16, ApplyDelay: time.Hour})
			evs := events(0, 200)
			for i, ev := range evs {
				ev.AppID = fmt.Sprintf("wxapp%03d", i%tt.apps)
			}
			if _, err := j.Append(t.Context(), evs); err != nil { // one write: the applier sees all 200
				t.Fatal(err)
			}
			close(db.gate)
			if err := j.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
			db.mu.Lock()
			batches := append([]int(nil), db.batches...)
			db.mu.Unlock()
			if got := slices.Max(batches); got != tt.max {
				t.Fatalf("transactions %v: the largest has %d events, want %d", batches, got, tt.max)
			}
			if n := len(db.stored()); n != 200 {
				t.Fatalf("stored %d, want 200", n)
			}
			j.Close(t.Context())
		})
	}
}

func TestLagIsBounded(t *testing.T) {
	db := newFakeDB()
	db.gate = make(chan struct{})
	j := open(t, db, Options{MaxLag: 10, ApplyDelay: time.Millisecond})
	if err := j.Health(); err != nil {
		t.Fatalf("empty journal unhealthy: %v", err)
	}
	if _, err := j.Append(t.Context(), events(0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := j.Health(); !errors.Is(err, ErrFull) { // readyz says not ready
		t.Fatalf("Health at the cap = %v, want ErrFull", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := j.Append(ctx, events(10, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append beyond MaxLag = %v, want it to wait for the applier", err)
	}
	if j.Backlog() != 10 {
		t.Fatalf("backlog = %d, want 10", j.Backlog())
	}
	close(db.gate) // the database answers again
	if _, err := j.Append(t.Context(), events(10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := j.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(db.stored()); n != 11 {
		t.Fatalf("stored %d, want 11", n)
	}
	if err := j.Health(); err != nil {
		t.Fatalf("Health after catching up = %v", err)
	}
	j.Close(t.Context())
}

func TestApplierRetriesAndDropsOnlyRefusedEvents(t *testing.T) {
	db := newFakeDB()
	db.setFail(errors.New("disk I/O error"))
	db.refuse["m:1001"] = true
	var logs bytes.Buffer
	j := open(t, db, Options{ApplyDelay: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if _, err := j.Append(t.Context(), events(0, 3)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	if err := j.Sync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync while the database fails = %v, want it still waiting", err)
	}
	cancel()
	db.setFail(nil)
	if err := j.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := db.stored()
	if len(got) != 2 || got[0].DedupKey != "m:1000" || got[1].DedupKey != "m:1002" {
		t.Fatalf("stored %+v, want every event but the refused one", got)
	}
	if !strings.Contains(logs.String(), "retrying") || !strings.Contains(logs.String(), "dropping") {
		t.Fatalf("log lacks the retry or the drop:\n%s", logs.String())
	}
	j.Close(t.Context())
}

func TestRecentKeysSeedDuplicateWindow(t *testing.T) {
	now := t0
	seen := ""
	j := open(t, newFakeDB(), Options{
		Window: time.Minute,
		Now:    func() time.Time { return now },
		Recent: func(_ context.Context, since time.Time) ([]string, error) {
			seen = since.Format(time.RFC3339)
			return []string{key(event(1))}, nil
		},
	})
	if seen != t0.Add(-time.Minute).Format(time.RFC3339) {
		t.Fatalf("Recent asked since %s, want one window back", seen)
	}
	ins, _ := j.Append(t.Context(), []*wxfleet.Event{event(1)})
	if ins[0] {
		t.Fatal("a push stored before the start was not recognised as a retry")
	}
	// Keys live one to two windows: after two, a repeat counts as new (the
	// database still stores it once).
	now = now.Add(61 * time.Second)
	if ins, _ := j.Append(t.Context(), []*wxfleet.Event{event(1)}); ins[0] {
		t.Fatal("forgotten after one window; want between one and two")
	}
	now = now.Add(61 * time.Second)
	j.Append(t.Context(), events(50, 1)) // rotates
	now = now.Add(61 * time.Second)
	if ins, _ := j.Append(t.Context(), []*wxfleet.Event{event(1)}); !ins[0] {
		t.Fatal("remembered beyond two windows")
	}
	j.Close(t.Context())
}

func FuzzDecode(f *testing.F) {
	f.Add(appendRecord(nil, event(1))[8:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := decode(body)
		if err != nil {
			return
		}
		again, err := decode(appendRecord(nil, ev)[8:])
		if err != nil || again.DedupKey != ev.DedupKey || !bytes.Equal(again.Payload, ev.Payload) {
			t.Fatalf("re-encoding a decoded record does not round-trip: %v", err)
		}
	})
}

// TestConcurrentRecordsAreGroupedAndNoneLostAtClose has many callers record
// at once (some retrying each other's pushes) while the journal closes under
// them: every push acknowledged (nil error) must be in the database exactly
// once, and exactly one caller per key is told it was new.
func TestConcurrentRecordsAreGroupedAndNoneLostAtClose(t *testing.T) {
	db := newFakeDB()
	var writes []int
	var wmu sync.Mutex
	j := open(t, db, Options{ApplyDelay: time.Millisecond, Observe: func(n int) {
		wmu.Lock()
		writes = append(writes, n)
		wmu.Unlock()
	}})
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		acked  = map[string]bool{}
		newFor = map[string]int{}
	)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ev := event(w*1000 + i)
				if i%10 == 9 {
					ev = event(((w+1)%32)*1000 + i - 1) // a neighbour's push, retried
				}
				ins, err := j.Record(t.Context(), ev)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[ev.DedupKey] = true
				if ins {
					newFor[ev.DedupKey]++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if err := j.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	stored := map[string]int{}
	for _, ev := range db.stored() {
		stored[ev.DedupKey]++
	}
	for k := range acked {
		if stored[k] != 1 {
			t.Fatalf("acknowledged %s stored %d times", k, stored[k])
		}
	}
	for k, n := range stored {
		if n != 1 || newFor[k] != 1 {
			t.Fatalf("%s: stored %d times, reported new %d times; want 1 and 1", k, n, newFor[k])
		}
	}
	if len(acked) == 0 {
		t.Fatal("nothing was recorded before the close")
	}
	total := 0
	for _, n := range writes {
		total += n
	}
	if total != len(stored) {
		t.Fatalf("writes carried %d records, %d stored", total, len(stored))
	}
	if s := segments(t, j.opts.Path); len(s) != 0 {
		t.Fatalf("segments left after close: %v", s)
	}
}

// FuzzReadSegment: whatever a segment file holds, reading it never panics,
// and what it yields is exactly the whole records at its start.
func FuzzReadSegment(f *testing.F) {
	whole := append([]byte(segmentMagic), appendRecord(appendRecord(nil, event(1)), event(2))...)
	f.Add(whole)
	f.Add(whole[:len(whole)-5])
	f.Add([]byte(segmentMagic + "\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, torn, err := parseSegment(data)
		if err != nil {
			return
		}
		var again []byte
		if len(data) >= len(segmentMagic) {
			again = []byte(segmentMagic)
		}
		for _, ev := range evs {
			again = appendRecord(again, ev)
		}
		tail := data[min(len(again), len(data)):]
		if torn != 0 && torn != len(tail) || torn == 0 && tornBytes(tail) != 0 || !bytes.HasPrefix(data, again) {
			t.Fatalf("read %d events and %d torn bytes, not a prefix of the %d-byte file", len(evs), torn, len(data))
		}
	})
}

// The write(2) segment is what other systems use (and Linux where the file
// system cannot preallocate): its records read back like the mapped one's.
func TestPlainSegmentRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.000001.log")
	seg, err := createPlainSegment(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if undone, err := seg.append(appendRecord(nil, event(i))); err != nil || !undone {
			t.Fatal(undone, err)
		}
	}
	if err := seg.sync(); err != nil {
		t.Fatal(err)
	}
	size := seg.size()
	if err := seg.close(); err != nil {
		t.Fatal(err)
	}
	evs, torn, err := readSegment(path)
	if err != nil || torn != 0 || len(evs) != 3 || evs[2].DedupKey != event(2).DedupKey {
		t.Fatalf("read back %d events, torn %d, err %v", len(evs), torn, err)
	}
	if fi, _ := os.Stat(path); fi.Size() != size || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file %d bytes mode %v; want %d bytes, 0600", fi.Size(), fi.Mode().Perm(), size)
	}
}

// A segment that cannot be created (here: its name is taken by a directory)
// refuses the pushes of that moment, and the journal recovers by itself.
func TestNewSegmentFailureIsNotPermanent(t *testing.T) {
	db := newFakeDB()
	prefix := filepath.Join(t.TempDir(), "db-ingest")
	j := open(t, db, Options{Path: prefix, SegmentSize: 1024, ApplyDelay: time.Millisecond})
	if _, err := j.Append(t.Context(), events(0, 10)); err != nil { // fills the first segment
		t.Fatal(err)
	}
	blocker := fmt.Sprintf("%s.%06d.log", prefix, j.segNo+1) // the next segment's name
	if err := os.Mkdir(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(t.Context(), events(10, 1)); err == nil {
		t.Fatal("append succeeded although no segment could be created")
	}
	ins, err := j.Append(t.Context(), events(10, 2))
	if err != nil {
		t.Fatalf("the journal did not recover: %v", err)
	}
	if !ins[0] || !ins[1] {
		t.Fatalf("inserted = %v: a refused push must count as new when retried", ins)
	}
	if err := j.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(db.stored()); n != 12 {
		t.Fatalf("stored %d, want 12", n)
	}
	if err := j.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	os.Remove(blocker)
	if s := segments(t, prefix); len(s) != 0 {
		t.Fatalf("segments left: %v", s)
	}
}

// Applied segments are wiped and reused (on Linux), and a crash at any point
// of that leaves a journal that replays: here the files are copied while the
// journal runs, as a crash would leave them.
func TestSegmentsAreRecycledAndReplayable(t *testing.T) {
	db := newFakeDB()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "db-ingest")
	j := open(t, db, Options{Path: prefix, SegmentSize: 2048, ApplyDelay: time.Millisecond})
	var last int
	for round := range 30 {
		if _, err := j.Append(t.Context(), events(round*8, 8)); err != nil {
			t.Fatal(err)
		}
		if err := j.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		last = round*8 + 8
	}
	j.mu.Lock()
	spare := j.spare
	j.mu.Unlock()
	if runtime.GOOS == "linux" && spare == nil {
		t.Fatal("no applied segment was kept for reuse")
	}
	if n := len(segments(t, prefix)); n > 4 {
		t.Fatalf("%d segments on disk after 30 rotations; applied ones must go or be reused", n)
	}
	// A crash now: copy the files as they are.
	crash := filepath.Join(t.TempDir(), "db-ingest")
	for _, p := range segments(t, prefix) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crash+strings.TrimPrefix(p, prefix), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(db.stored()); n != last {
		t.Fatalf("stored %d, want %d", n, last)
	}
	var logs bytes.Buffer
	db2 := newFakeDB()
	j2 := open(t, db2, Options{Path: crash, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if strings.Contains(logs.String(), "unfinished") {
		t.Fatalf("replay saw a torn record where there is none:\n%s", logs.String())
	}
	// What replays is a suffix of what was stored (the applied segments were
	// wiped), never anything twice.
	seen := map[string]bool{}
	for _, ev := range db2.stored() {
		if seen[ev.DedupKey] {
			t.Fatalf("%s replayed twice", ev.DedupKey)
		}
		seen[ev.DedupKey] = true
	}
	j2.Close(t.Context())
	if err := j.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := segments(t, prefix); len(s) != 0 {
		t.Fatalf("segments left after close: %v", s)
	}
}

// WeChat's retry of a push whose first attempt is still being written must
// not be acknowledged as a duplicate if that write then fails: the retry
// waits for it, and is journaled itself (here failing too) instead of
// answering "already stored" for a push that is not.
func TestDuplicateWaitsForItsOriginalsWrite(t *testing.T) {
	db := newFakeDB()
	j := open(t, db, Options{})
	inWrite, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	j.beforeWrite = func() {
		once.Do(func() { // the first write only: the original's
			inWrite <- struct{}{}
			<-release
		})
	}
	first := make(chan error, 1)
	go func() {
		_, err := j.Append(t.Context(), events(0, 1))
		first <- err
	}()
	<-inWrite // the original's write is under way
	second := make(chan error, 1)
	var dupIns []bool
	go func() {
		var err error
		dupIns, err = j.Append(t.Context(), events(0, 1))
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("the retry returned (%v, %v) before its original was written", dupIns, err)
	case <-time.After(50 * time.Millisecond):
	}
	j.mu.Lock()
	j.broken = errors.New("disk on fire")
	j.mu.Unlock()
	close(release)
	if err := <-first; err == nil {
		t.Fatal("the original's write was to fail")
	}
	if err := <-second; err == nil {
		t.Fatalf("the retry was answered %v with no error although nothing is stored", dupIns)
	}
	j.mu.Lock()
	j.broken = nil
	j.mu.Unlock()
	ins, err := j.Append(t.Context(), events(0, 1))
	if err != nil || !ins[0] {
		t.Fatalf("a later retry: %v, %v; want it stored as new", ins, err)
	}
	j.Sync(t.Context())
	if n := len(db.stored()); n != 1 {
		t.Fatalf("stored %d, want 1", n)
	}
	j.Close(t.Context())
}
