package sandbox

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// touch records that the state named by refs changed, for the writer to
// store. Callers hold s.mu.
func (s *Sandbox) touch(refs ...ref) {
	for _, r := range refs {
		s.dirty[r] = struct{}{}
	}
	s.dirtyGen.Add(1)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// touchSoon records changed rows like touch, but an API answering now does
// not wait for their commit (the write follows soon): for counts whose loss
// in a crash harms no one. Callers hold s.mu.
func (s *Sandbox) touchSoon(refs ...ref) {
	for _, r := range refs {
		s.dirty[r] = struct{}{}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// saver writes changes as they come, off the request path; changes made while
// a write is under way share the next one.
func (s *Sandbox) saver() {
	defer close(s.saveDone)
	for {
		select {
		case <-s.wake:
			if err := s.flush(); err != nil {
				s.log.Error("saving sandbox state", "path", filepath.Join(s.cfg.DataDir, dbFile), "err", err)
				// The refs are dirty again; try once more a little later.
				select {
				case <-time.After(time.Second):
				case <-s.bg.Done():
					return
				}
				s.mu.Lock()
				s.touch()
				s.mu.Unlock()
			}
		case <-s.bg.Done():
			return
		}
	}
}

// flushChunk is how many rows flush encodes per hold of s.mu: a bulk change
// of 100,000 rows is written in one transaction without holding all of them
// encoded in memory at once, nor blocking the APIs for the whole encoding.
const flushChunk = 2000

// flush writes every change recorded so far in one transaction. Values are
// encoded under s.mu (they are live state), sealed and written after it.
func (s *Sandbox) flush() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	s.st.ClockOffset = time.Duration(s.offset.Load())
	gen := s.dirtyGen.Load()
	refs := make([]ref, 0, len(s.dirty))
	for r := range s.dirty {
		refs = append(refs, r)
	}
	s.dirty = map[ref]struct{}{}
	s.mu.Unlock()
	err := s.db.writeChunks(context.Background(), func(yield func([]row) error) error {
		for chunk := range slices.Chunk(refs, flushChunk) {
			rows, err := s.encode(chunk)
			if err != nil {
				return err
			}
			if err := yield(rows); err != nil {
				return err
			}
		}
		return nil
	})
	s.mu.Lock()
	if err != nil {
		for _, r := range refs {
			s.dirty[r] = struct{}{}
		}
	}
	s.flushedGen.Store(gen)
	close(s.flushed)
	s.flushed = make(chan struct{})
	imported := s.imported && err == nil
	s.imported = s.imported && !imported
	s.mu.Unlock()
	if imported {
		// Only once its content is committed does the old file step aside.
		old := filepath.Join(s.cfg.DataDir, legacyFile)
		if rerr := os.Rename(old, old+".imported"); rerr != nil {
			s.log.Warn("renaming the imported state file", "path", old, "err", rerr)
		} else {
			s.log.Info("imported the state file into the state database", "from", old, "to", filepath.Join(s.cfg.DataDir, dbFile))
		}
	}
	return err
}

// encode returns the rows of refs as they are now.
func (s *Sandbox) encode(refs []ref) ([]row, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := make([]row, 0, len(refs))
	for _, r := range refs {
		v := s.st.value(r)
		if v == nil {
			rows = append(rows, row{key: r.key()})
			continue
		}
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{key: r.key(), value: data})
	}
	return rows, nil
}

// waitDurable returns once every change recorded before the call has been
// written (or a write was attempted and logged), or ctx ends. A caller that is
// about to tell the platform a code or token it just issued waits here first.
func (s *Sandbox) waitDurable(ctx context.Context) {
	s.waitFlushed(ctx, s.dirtyGen.Load())
}

func (s *Sandbox) waitFlushed(ctx context.Context, gen uint64) {
	for {
		s.mu.Lock()
		if s.flushedGen.Load() >= gen {
			s.mu.Unlock()
			return
		}
		ch := s.flushed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-s.saveDone:
			// The writer stopped (Close): Close's own flush covers the rest.
			return
		}
	}
}

// touchMeta records a change of the clock offset or a counter.
func (s *Sandbox) touchMeta() {
	s.mu.Lock()
	s.touch(ref{kind: kMeta})
	s.mu.Unlock()
}
