package ingest

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// mappedSegment appends by copying into a shared memory mapping of a
// preallocated file: no system call per append. The pages are the file's
// page cache, so what is copied survives a crash of the process exactly as
// a returned write(2) does; sync (msync) makes it survive a power loss.
// fallocate reserves the blocks up front, so a full disk fails the segment's
// creation instead of faulting (SIGBUS) in the middle of a copy. The file
// keeps its preallocated size; replay reads the zeros after the last record
// as the end.
type mappedSegment struct {
	f      *os.File
	path   string
	m      []byte
	used   int64
	synced int64
}

// createSegment makes a segment of at least capacity bytes.
func createSegment(path string, capacity int64) (segmentFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ingest: creating journal segment: %w", err)
	}
	fail := func(err error) (segmentFile, error) {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("ingest: preparing journal segment: %w", err)
	}
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, capacity); err != nil {
		if err == syscall.EOPNOTSUPP || err == syscall.ENOSYS {
			// A file system without fallocate (some network ones): write(2).
			f.Close()
			os.Remove(path)
			return createPlainSegment(path)
		}
		return fail(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(capacity), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fail(err)
	}
	copy(m, segmentMagic)
	return &mappedSegment{f: f, path: path, m: m, used: int64(len(segmentMagic))}, nil
}

func (s *mappedSegment) append(buf []byte) (bool, error) {
	if int64(len(buf)) > s.room() {
		return true, fmt.Errorf("ingest: %d bytes do not fit in the segment (%d left)", len(buf), s.room())
	}
	copy(s.m[s.used:], buf)
	s.used += int64(len(buf))
	return true, nil
}

func (s *mappedSegment) sync() error {
	// msync wants a page-aligned start.
	start := s.synced &^ int64(os.Getpagesize()-1)
	if err := msync(s.m[start:s.used]); err != nil {
		return err
	}
	s.synced = s.used
	return nil
}

func msync(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, _, errno := syscall.Syscall(syscall.SYS_MSYNC, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), syscall.MS_SYNC)
	if errno != 0 {
		return errno
	}
	return nil
}

func (s *mappedSegment) room() int64  { return int64(len(s.m)) - s.used }
func (s *mappedSegment) size() int64  { return s.used }
func (s *mappedSegment) name() string { return s.path }

func (s *mappedSegment) recyclable() bool { return true }

// wipe zeroes the records, keeping the header: should the process die now,
// replay finds an empty segment. The pages stay mapped and writable, so the
// reused segment's appends are plain copies: a page fault per 4 KiB page
// cost several µs on the development machine's VM.
func (s *mappedSegment) wipe() { clear(s.m[len(segmentMagic):]) }

func (s *mappedSegment) reuse(path string) error {
	if err := os.Rename(s.path, path); err != nil {
		return fmt.Errorf("ingest: reusing a journal segment: %w", err)
	}
	s.path = path
	copy(s.m, segmentMagic)
	s.used, s.synced = int64(len(segmentMagic)), 0
	return nil
}

func (s *mappedSegment) close() error {
	err := syscall.Munmap(s.m)
	s.m = nil
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}
