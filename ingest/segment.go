package ingest

import (
	"fmt"
	"os"
)

// segmentFile is the journal's current segment: records are appended to it
// and it is closed when full. Only the writing caller uses it.
type segmentFile interface {
	// append adds buf at the end. On error nothing of buf counts: the
	// segment is back at its previous size, or the error says it could not
	// be undone (undo false).
	append(buf []byte) (undone bool, err error)
	// sync makes what was appended durable against a power loss.
	sync() error
	// room is how many more bytes fit (unbounded for a plain file).
	room() int64
	size() int64
	name() string
	close() error
	// recyclable tells whether the segment can be wiped and reused under
	// a new name once applied (see Journal's spare), which spares the
	// page faults of a fresh mapping.
	recyclable() bool
	// wipe zeroes the whole segment; reuse then renames it to path and
	// starts it afresh.
	wipe()
	reuse(path string) error
}

// plainSegment appends with write(2): portable, one system call per append.
type plainSegment struct {
	f    *os.File
	used int64
}

func createPlainSegment(path string) (*plainSegment, error) {
	// Pushes are merchants' users' messages: owner only, like the database.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest: creating journal segment: %w", err)
	}
	if _, err := f.Write([]byte(segmentMagic)); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("ingest: writing journal segment: %w", err)
	}
	return &plainSegment{f: f, used: int64(len(segmentMagic))}, nil
}

func (s *plainSegment) append(buf []byte) (bool, error) {
	n, err := s.f.Write(buf)
	if err == nil {
		s.used += int64(n)
		return true, nil
	}
	// Take back a partial record, or replay would stop there and miss
	// whatever is appended after it.
	if n > 0 {
		if terr := s.f.Truncate(s.used); terr != nil {
			return false, fmt.Errorf("%w (and truncating back failed: %v)", err, terr)
		}
	}
	return true, err
}

func (s *plainSegment) sync() error  { return s.f.Sync() }
func (s *plainSegment) room() int64  { return 1<<62 - s.used }
func (s *plainSegment) size() int64  { return s.used }
func (s *plainSegment) name() string { return s.f.Name() }
func (s *plainSegment) close() error { return s.f.Close() }

func (s *plainSegment) recyclable() bool { return false }
func (s *plainSegment) wipe()            {}
func (s *plainSegment) reuse(string) error {
	return fmt.Errorf("ingest: a plain segment cannot be reused")
}
