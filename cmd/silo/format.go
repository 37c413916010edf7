package main

import (
	"fmt"
	"time"

	"github.com/silo-dev/silo/store/config"
)

func human(n int64) string { return config.FormatSize(n) }

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB/s", float64(n)/1e6/d.Seconds())
}

// nowFunc is the CLI's clock.
func nowFunc() time.Time { return time.Now() }
