package snapshot

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name rules that depend on the filesystem a restore writes to, written as
// pure functions so that they hold, and are tested, on every platform:
// what Windows cannot hold as one plain name (CheckWindowsName), and names
// of one directory that a case-insensitive filesystem would hold as one
// entry (CaseCollision). Restore applies the first on Windows and the
// second on macOS and Windows (see RestoreOptions.RefuseCaseCollisions).

// PlatformRefusesCaseCollisions reports whether a restore on this platform
// refuses names of one directory that differ only in case without being
// asked (RestoreOptions.RefuseCaseCollisions): on macOS and Windows, whose
// filesystems ignore case by default.
const PlatformRefusesCaseCollisions = platformRefusesCaseCollisions

// CheckLocalName reports, with ErrUnsafePath, a name that a restore on this
// platform refuses as a directory entry: CheckName's rules, and on Windows
// CheckWindowsName's. Callers that make a directory of a name of their own
// (a project's, under a destination) check it with this first.
func CheckLocalName(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if platformChecksWindowsNames {
		return CheckWindowsName(name)
	}
	return nil
}

// windowsReserved are the characters Windows does not allow in a name:
// '\' and '/' separate a path, ':' a drive or an alternate data stream,
// the rest are wildcards and redirections.
const windowsReserved = `<>:"/\|?*`

// CheckWindowsName reports, with ErrUnsafePath naming it and the reason,
// a name that Windows cannot hold as one plain directory entry:
//
//   - a byte sequence that is not UTF-8 (Windows names are UTF-16: it
//     would be stored as another name);
//   - a control character (U+0000 to U+001F);
//   - one of the characters <>:"/\|?*;
//   - a trailing dot or space (Windows drops them, so the entry would
//     land on another one);
//   - a device name, in any case: CON, PRN, AUX, NUL, COM0 to COM9, LPT0
//     to LPT9 (and COM or LPT with a superscript ¹, ² or ³), CONIN$ and
//     CONOUT$, alone or followed by an extension ("nul.txt", "com1.tar.gz")
//     or by spaces before one ("aux .c").
//
// It checks only what Windows adds to CheckName's rules: "" and ".." pass
// here (CheckName refuses them).
func CheckWindowsName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: name %q is not UTF-8 (Windows would store another name)", ErrUnsafePath, name)
	}
	for _, c := range name {
		if c < 0x20 {
			return fmt.Errorf("%w: name %q holds the control character %U, which Windows does not allow", ErrUnsafePath, name, c)
		}
		if strings.ContainsRune(windowsReserved, c) {
			return fmt.Errorf("%w: name %q holds %q, which Windows does not allow in a name (a path, drive, stream or wildcard)", ErrUnsafePath, name, c)
		}
	}
	if strings.HasSuffix(name, ".") || strings.HasSuffix(name, " ") {
		if name == "." || name == ".." {
			return nil // CheckName's to refuse
		}
		return fmt.Errorf("%w: name %q ends in a dot or a space, which Windows drops", ErrUnsafePath, name)
	}
	if isWindowsDevice(name) {
		return fmt.Errorf("%w: name %q is a device on Windows (CON, PRN, AUX, NUL, COM0-9, LPT0-9, CONIN$, CONOUT$, with any extension)", ErrUnsafePath, name)
	}
	return nil
}

// isWindowsDevice reports whether Windows reads name as a device: its part
// before the first dot, without trailing spaces, is a device name in any
// case.
func isWindowsDevice(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	base = asciiUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) < 4 {
		return false
	}
	switch base[:3] {
	case "COM", "LPT":
		switch base[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}

// asciiUpper upper-cases the ASCII letters of s only, as Windows matches
// device names.
func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}, s)
}

// CaseCollision returns the first two of names (the entries of one
// directory) that a case-insensitive filesystem would hold as one entry:
// names equal under Unicode simple case folding, as strings.EqualFold
// compares them: "README" and "readme", "Σ" and "ς", but not "ß" and "ss"
// (a full folding). b is the later of the two in names; ok is false when
// there is none. Bytes that are not UTF-8 compare as they are.
//
// It is what NTFS and APFS (in its default, case-insensitive form) refuse
// to tell apart, up to two differences: it finds a collision where
// Windows' upper-case table differs from simple folding (the Kelvin sign
// and "k", for one), and none between names APFS also equates by Unicode
// normalization (a precomposed "é" and "e" with a combining accent).
func CaseCollision(names []string) (a, b string, ok bool) {
	if len(names) < 2 {
		return "", "", false
	}
	seen := make(map[string]string, len(names))
	for _, n := range names {
		k := foldKey(n)
		if first, dup := seen[k]; dup {
			return first, n, true
		}
		seen[k] = n
	}
	return "", "", false
}

// foldKey is name with every rune replaced by one representative of its
// simple case folding orbit (the ASCII lower-case letter where the orbit
// holds one, else its smallest rune), so two UTF-8 names have the same key
// exactly when strings.EqualFold reports them equal. A name that is its
// own key (an ASCII name without upper-case letters, say) is returned
// without a copy.
func foldKey(name string) string {
	var b []byte // nil while the key equals name so far
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		f := r
		if r != utf8.RuneError || size > 1 {
			f = foldRune(r)
		}
		if f != r && b == nil {
			b = append(make([]byte, 0, len(name)+4), name[:i]...)
		}
		if b != nil {
			if f == r {
				b = append(b, name[i:i+size]...)
			} else {
				b = utf8.AppendRune(b, f)
			}
		}
		i += size
	}
	if b == nil {
		return name
	}
	return string(b)
}

// foldRune is the representative of r's simple case folding orbit.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	if 'A' <= m && m <= 'Z' {
		m += 'a' - 'A'
	}
	return m
}
