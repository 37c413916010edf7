package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// quoteName prints a file name, tag or other stored text safely in text
// output, as git does with core.quotePath off: a name with a control
// character (terminal escapes among them), invalid UTF-8, a double quote
// or a backslash is shown as a Go-quoted string ("\x1b[31m"), any other
// name as it is. --json output keeps names raw (JSON escapes them).
func quoteName(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '"' || r == '\\' || !unicode.IsPrint(r) && r != ' '
	}) {
		return strconv.Quote(s)
	}
	return s
}

func quoteNames(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = quoteName(s)
	}
	return out
}
