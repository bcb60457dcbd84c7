//go:build unix

package wallets

import "syscall"

// cpuSeconds is the process's user + system CPU time. The per-statement log
// reports it next to the wall time because, on shared cores, CPU time is the
// figure that compares between runs.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
