//go:build !linux

package ingest

// createSegment makes a segment appended with write(2); the memory-mapped
// segment is Linux's (see segment_linux.go).
func createSegment(path string, capacity int64) (segmentFile, error) {
	return createPlainSegment(path)
}
