//go:build !unix

package server

import "errors"

// diskFree is unknown here: readiness does not check the disk.
func diskFree(string) (uint64, error) { return 0, errors.New("free disk space unknown on this system") }
