package main

import (
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile to $SILO_CPUPROFILE when set (for
// benchmarking silo itself); the returned func stops it.
func startProfile() func() {
	path := os.Getenv("SILO_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		if mp := os.Getenv("SILO_MEMPROFILE"); mp != "" {
			if m, err := os.Create(mp); err == nil {
				pprof.Lookup("heap").WriteTo(m, 0)
				m.Close()
			}
		}
	}
}
