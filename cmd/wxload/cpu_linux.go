package main

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// cpuSnapshot is the CPU time used so far by this process and by the whole
// machine: their difference over a run is what other processes took, the
// main source of noise on a shared machine.
type cpuSnapshot struct {
	self, machine time.Duration
	ok            bool
}

func takeCPU() cpuSnapshot {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuSnapshot{}
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSnapshot{}
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return cpuSnapshot{}
	}
	// user nice system idle iowait irq softirq steal: everything but idle and
	// iowait is busy. The unit is USER_HZ, 100 per second on Linux.
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i > 7 {
			continue
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return cpuSnapshot{}
		}
		busy += n
	}
	return cpuSnapshot{self: self, machine: time.Duration(busy) * 10 * time.Millisecond, ok: true}
}

// cpuUsage returns how many CPUs this process and all other processes kept busy
// on average between a and b.
func cpuUsage(a, b cpuSnapshot, wall time.Duration) (self, others float64) {
	if !a.ok || !b.ok || wall <= 0 {
		return 0, 0
	}
	self = float64(b.self-a.self) / float64(wall)
	others = max(0, float64((b.machine-a.machine)-(b.self-a.self))/float64(wall))
	return self, others
}
