package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Size units. The decimal ones (KB, MB, GB, TB, PB) are powers of 1000, the
// binary ones (KiB, MiB, GiB, TiB, PiB) powers of 1024.
const (
	KB int64 = 1000
	MB       = 1000 * KB
	GB       = 1000 * MB
	TB       = 1000 * GB
	PB       = 1000 * TB

	KiB int64 = 1 << 10
	MiB       = 1 << 20
	GiB       = 1 << 30
	TiB       = 1 << 40
	PiB       = 1 << 50
)

// sizeAllowed describes the accepted size syntax; it ends every ParseSize
// error.
const sizeAllowed = "allowed: a number with an optional unit B, KB, MB, GB, TB (powers of 1000) " +
	"or KiB, MiB, GiB, TiB (powers of 1024), case-insensitive; a bare number means GB; " +
	"e.g. 10GB, 512MiB, 1.5TB, 0"

// sizeUnits maps a lower-cased unit to its multiplier. A bare number ("")
// means GB.
var sizeUnits = map[string]int64{
	"":  GB,
	"b": 1,
	"k": KB, "kb": KB, "ki": KiB, "kib": KiB,
	"m": MB, "mb": MB, "mi": MiB, "mib": MiB,
	"g": GB, "gb": GB, "gi": GiB, "gib": GiB,
	"t": TB, "tb": TB, "ti": TiB, "tib": TiB,
	"p": PB, "pb": PB, "pi": PiB, "pib": PiB,
}

// maxInputLen bounds what ParseSize and ParseAge look at; nothing valid is
// anywhere near this long.
const maxInputLen = 64

// ParseSize parses a byte size such as "10GB", "10G", "512MiB", "1.5TB" or
// "0". A bare number means GB ("10" is 10 GB). KB, MB, GB, TB (and K, M, G,
// T) are decimal (1e3, 1e6, 1e9, 1e12), KiB, MiB, GiB, TiB binary, B is
// bytes. Units are case-insensitive and may be separated from the number by
// spaces. A fractional result is truncated to whole bytes (except with unit
// B, where a fraction is an error). Negative sizes, junk and sizes beyond
// int64 are errors that say what is allowed.
func ParseSize(s string) (int64, error) {
	t, err := trimQuantity(s, "a size", sizeAllowed)
	if err != nil {
		return 0, err
	}
	// Split into number and unit.
	i := 0
	dots := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		if t[i] == '.' {
			dots++
		}
		i++
	}
	num := t[:i]
	unit := strings.ToLower(strings.TrimLeft(t[i:], " \t"))
	if num == "" || num == "." || dots > 1 {
		return 0, fmt.Errorf("%s is not a size (%s)", quote(s), sizeAllowed)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("%s has unknown unit %s (%s)", quote(s), quote(t[i:]), sizeAllowed)
	}
	if strings.HasPrefix(num, ".") {
		num = "0" + num
	}
	num = strings.TrimSuffix(num, ".")
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("%s is not a size (%s)", quote(s), sizeAllowed)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() && mult == 1 {
		return 0, fmt.Errorf("%s is not a whole number of bytes (%s)", quote(s), sizeAllowed)
	}
	n := new(big.Int).Quo(r.Num(), r.Denom()) // truncates
	if !n.IsInt64() {
		return 0, fmt.Errorf("%s is too large (at most %s)", quote(s), FormatSize(math.MaxInt64))
	}
	return n.Int64(), nil
}

var binaryUnits = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// FormatSize renders n for humans in binary units with at most two decimals,
// e.g. "512 B", "16 MiB", "1.5 GiB", "9.31 GiB".
func FormatSize(n int64) string {
	sign := ""
	mag := uint64(n)
	if n < 0 {
		sign = "-"
		mag = uint64(-(n + 1)) + 1 // also right for math.MinInt64
	}
	if mag < 1024 {
		return sign + strconv.FormatUint(mag, 10) + " B"
	}
	u := 0
	for u+1 < len(binaryUnits) && mag >= uint64(1)<<(10*(u+1)) {
		u++
	}
	v := float64(mag) / float64(uint64(1)<<(10*u))
	txt := strconv.FormatFloat(v, 'f', 2, 64)
	if txt == "1024.00" && u+1 < len(binaryUnits) {
		u++
		txt = "1.00"
	}
	txt = strings.TrimRight(strings.TrimRight(txt, "0"), ".")
	return sign + txt + " " + binaryUnits[u]
}

// formatExactSize renders n exactly: in the largest unit (binary or decimal)
// that divides it, else in bytes. Used by Entries so that "10GB" shows as
// "10 GB", not "9.31 GiB".
func formatExactSize(n int64) string {
	if n == 0 {
		return "0"
	}
	units := []struct {
		name string
		size int64
	}{
		{"PiB", PiB}, {"PB", PB}, {"TiB", TiB}, {"TB", TB}, {"GiB", GiB}, {"GB", GB},
		{"MiB", MiB}, {"MB", MB}, {"KiB", KiB}, {"KB", KB},
	}
	for _, u := range units {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}

const ageAllowed = "allowed: whole numbers with units w (weeks), d (days), h (hours), m (minutes), s (seconds), " +
	"e.g. 90d, 2w, 12h, 30m, 1d12h; a bare number means days"

var ageUnits = map[byte]time.Duration{
	'w': 7 * 24 * time.Hour,
	'd': 24 * time.Hour,
	'h': time.Hour,
	'm': time.Minute,
	's': time.Second,
}

// ParseAge parses an age such as "90d", "2w", "12h", "30m" or "1d12h". A bare
// number means days. Units (w, d, h, m, s; "m" is minutes) are
// case-insensitive, each may appear once, and components may be separated by
// spaces. Negative ages and junk are errors that say what is allowed.
func ParseAge(s string) (time.Duration, error) {
	t, err := trimQuantity(s, "an age", ageAllowed)
	if err != nil {
		return 0, err
	}
	if n, err := strconv.ParseUint(t, 10, 64); err == nil || isRangeErr(err) {
		if err != nil || n > uint64(math.MaxInt64/int64(ageUnits['d'])) {
			return 0, fmt.Errorf("%s is too large (%s)", quote(s), ageAllowed)
		}
		return time.Duration(n) * ageUnits['d'], nil
	}
	var total time.Duration
	seen := map[byte]bool{}
	for i := 0; i < len(t); {
		for i < len(t) && t[i] == ' ' {
			i++
		}
		start := i
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		if start == i {
			return 0, fmt.Errorf("%s is not an age (%s)", quote(s), ageAllowed)
		}
		n, err := strconv.ParseInt(t[start:i], 10, 64)
		if i == len(t) {
			return 0, fmt.Errorf("%s is not an age: %s has no unit (%s)", quote(s), t[start:i], ageAllowed)
		}
		unit := t[i] | 0x20 // lower-case ASCII letters
		per, ok := ageUnits[unit]
		if !ok || (i+1 < len(t) && isLetter(t[i+1])) {
			j := i
			for j < len(t) && isLetter(t[j]) {
				j++
			}
			return 0, fmt.Errorf("%s has unknown unit %s (%s)", quote(s), quote(t[i:max(j, i+1)]), ageAllowed)
		}
		i++
		if seen[unit] {
			return 0, fmt.Errorf("%s repeats unit %c (%s)", quote(s), unit, ageAllowed)
		}
		seen[unit] = true
		if err != nil || n > int64(math.MaxInt64/per) || total > math.MaxInt64-time.Duration(n)*per {
			return 0, fmt.Errorf("%s is too large (%s)", quote(s), ageAllowed)
		}
		total += time.Duration(n) * per
	}
	return total, nil
}

func isLetter(b byte) bool { return b|0x20 >= 'a' && b|0x20 <= 'z' }

func isRangeErr(err error) bool {
	var ne *strconv.NumError
	return errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange)
}

// quote quotes v for an error message, shortening very long values.
func quote(v string) string {
	const limit = 80
	if len(v) > limit {
		cut := limit
		for cut > 0 && v[cut]&0xC0 == 0x80 { // don't split a UTF-8 sequence
			cut--
		}
		return strconv.Quote(v[:cut]) + "..."
	}
	return strconv.Quote(v)
}

// trimQuantity trims s, a size or an age (what: "a size"), and refuses an
// empty, overlong or negative one, saying what is allowed.
func trimQuantity(s, what, allowed string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", fmt.Errorf("empty %s (%s)", strings.TrimPrefix(strings.TrimPrefix(what, "an "), "a "), allowed)
	}
	if len(t) > maxInputLen {
		return "", fmt.Errorf("%s is not %s (%s)", quote(s), what, allowed)
	}
	if t[0] == '-' {
		return "", fmt.Errorf("%s is negative (%s)", quote(s), allowed)
	}
	return t, nil
}
