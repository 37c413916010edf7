package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"0GB", 0},
		{"0.0", 0},
		{"10", 10_000_000_000}, // a bare number means GB
		{"1.5", 1_500_000_000},
		{"10GB", 10_000_000_000},
		{"10G", 10_000_000_000},
		{"10gb", 10_000_000_000},
		{"10 GB", 10_000_000_000},
		{" 10\tGB ", 10_000_000_000},
		{"512MiB", 512 << 20},
		{"512 mib", 512 << 20},
		{"512Mi", 512 << 20},
		{"1.5TB", 1_500_000_000_000},
		{"1.5TiB", 3 << 39},
		{"1TB", 1_000_000_000_000},
		{"1T", 1_000_000_000_000},
		{"2KB", 2000},
		{"2K", 2000},
		{"2KiB", 2048},
		{"3MB", 3_000_000},
		{"3M", 3_000_000},
		{"1GiB", 1 << 30},
		{"1PB", 1_000_000_000_000_000},
		{"1PiB", 1 << 50},
		{"1B", 1},
		{"0B", 0},
		{"1024b", 1024},
		{".5GB", 500_000_000},
		{"5.GB", 5_000_000_000},
		{"1.0000000001KB", 1000}, // fractions of a byte are truncated
		{"0.1KiB", 102},
		{"16MiB", 16 << 20},
		{"9223372036854775807B", math.MaxInt64},
		{"8388607TiB", 8388607 << 40}, // 8388608TiB = 2^63 overflows
		{"007GB", 7_000_000_000},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", "empty size"},
		{"   ", "empty size"},
		{"-1", "negative"},
		{"-1GB", "negative"},
		{"-0", "negative"},
		{"abc", "not a size"},
		{"GB", "not a size"},
		{".", "not a size"},
		{"1.2.3GB", "not a size"},
		{"+5GB", "not a size"},
		{"1e9", `unknown unit "e9"`},
		{"10XB", `unknown unit "XB"`},
		{"10 G B", "unknown unit"},
		{"10gbit", "unknown unit"},
		{"1,5GB", "unknown unit"},
		{"0x10", "unknown unit"},
		{"1_000", "unknown unit"},
		{"1.5B", "whole number of bytes"},
		{"9223372036854775808B", "too large"},
		{"8388608TiB", "too large"},
		{"10000000000000000000000000", "too large"},
		{strings.Repeat("9", 100), "not a size"},
		{"１０GB", "not a size"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want error", tt.in, got)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) {
			t.Errorf("ParseSize(%q) error %q does not contain %q", tt.in, msg, tt.want)
		}
		if !strings.Contains(msg, "allowed:") && !strings.Contains(msg, "at most") {
			t.Errorf("ParseSize(%q) error %q does not say what is allowed", tt.in, msg)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{16 << 20, "16 MiB"},
		{3 << 29, "1.5 GiB"},
		{10_000_000_000, "9.31 GiB"},
		{1<<20 - 1, "1 MiB"}, // 1023.999 KiB rounds up into the next unit
		{1 << 40, "1 TiB"},
		{1 << 50, "1 PiB"},
		{math.MaxInt64, "8 EiB"},
		{-2048, "-2 KiB"},
		{math.MinInt64, "-8 EiB"},
	}
	for _, tt := range tests {
		if got := FormatSize(tt.in); got != tt.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFormatSizeParsesBack(t *testing.T) {
	for _, n := range []int64{0, 1, 1 << 10, 1 << 20, 16 << 20, 3 << 29, 1 << 40} {
		got, err := ParseSize(FormatSize(n))
		if err != nil || got != n {
			t.Errorf("ParseSize(FormatSize(%d) = %q) = %d, %v", n, FormatSize(n), got, err)
		}
	}
}

func TestFormatExactSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{10_000_000_000, "10 GB"},
		{16 << 20, "16 MiB"},
		{1_500_000_000_000, "1500 GB"},
		{1 << 40, "1 TiB"},
		{1001, "1001 B"},
		{2000, "2 KB"},
	}
	for _, tt := range tests {
		if got := formatExactSize(tt.in); got != tt.want {
			t.Errorf("formatExactSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in != 0 {
			if back, err := ParseSize(formatExactSize(tt.in)); err != nil || back != tt.in {
				t.Errorf("ParseSize(%q) = %d, %v", formatExactSize(tt.in), back, err)
			}
		}
	}
}

func TestParseAge(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0d", 0},
		{"90", 90 * day}, // a bare number means days
		{"90d", 90 * day},
		{"90D", 90 * day},
		{"2w", 14 * day},
		{"12h", 12 * time.Hour},
		{"30m", 30 * time.Minute},
		{"45s", 45 * time.Second},
		{"1d12h", 36 * time.Hour},
		{"1d 12h", 36 * time.Hour},
		{" 1w2d3h4m5s ", 9*day + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{"12h1d", 36 * time.Hour},
		{"106751d", 106751 * day},
		{"2562047h", 2562047 * time.Hour},
		{"106751d23h47m", 106751*day + 23*time.Hour + 47*time.Minute}, // just below the Duration limit
	}
	for _, tt := range tests {
		got, err := ParseAge(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseAgeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", "empty age"},
		{"-1", "negative"},
		{"-1d", "negative"},
		{"d", "not an age"},
		{"abc", "not an age"},
		{"1.5d", "unknown unit"},
		{"1y", `unknown unit "y"`},
		{"3mo", `unknown unit "mo"`},
		{"30min", `unknown unit "min"`},
		{"1d12", "has no unit"},
		{"1d1d", "repeats unit d"},
		{"1 d", "unknown unit"},
		{"106752", "too large"},
		{"106752d", "too large"},
		{"99999999999999999999", "too large"},
		{"99999999999999999999h", "too large"},
		{"1h2h", "repeats unit h"},
		{"106751d23h48m", "too large"},
		{"106751d1w", "too large"},
		{strings.Repeat("1", 100), "not an age"},
		{"+5d", "not an age"},
	}
	for _, tt := range tests {
		got, err := ParseAge(tt.in)
		if err == nil {
			t.Errorf("ParseAge(%q) = %v, want error", tt.in, got)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "allowed:") {
			t.Errorf("ParseAge(%q) error %q does not contain %q and what is allowed", tt.in, msg, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	long := strings.Repeat("é", 100)
	q := quote(long)
	if !strings.HasSuffix(q, "...") || len(q) > 100 || strings.Contains(q, `\x`) {
		t.Errorf("quote(long) = %q", q)
	}
	if quote("a\"b") != `"a\"b"` {
		t.Errorf("quote escapes badly: %s", quote("a\"b"))
	}
}
