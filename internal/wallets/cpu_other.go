//go:build !unix

package wallets

// cpuSeconds is not measured on this platform; the log then shows 0 s CPU.
func cpuSeconds() float64 { return 0 }
