package main

import (
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// startProfile writes a CPU profile to $SILO_CPUPROFILE when set (for
// benchmarking silo itself); the returned func stops it.
func startProfile() func() {
	// SILO_HEAPPROFILE_AT=PATH@SECONDS writes a heap profile mid-run
	if v := os.Getenv("SILO_HEAPPROFILE_AT"); v != "" {
		if i := strings.LastIndex(v, "@"); i > 0 {
			if secs, err := strconv.Atoi(v[i+1:]); err == nil {
				time.AfterFunc(time.Duration(secs)*time.Second, func() {
					if m, err := os.Create(v[:i]); err == nil {
						pprof.Lookup("heap").WriteTo(m, 0)
						m.Close()
					}
				})
			}
		}
	}
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
