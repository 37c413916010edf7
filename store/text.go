package store

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// checkText refuses a catalogue value that is not valid UTF-8 or holds a
// control character (C0, DEL, C1: terminal escapes among them), naming
// the field. Catalogue values end up on terminals and in JSON for other
// programs; none of them needs a control character.
func checkText(field, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalid, field, v)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s %q holds the control character %U", ErrInvalid, field, v, r)
		}
	}
	return nil
}

// checkTexts checks the free-text catalogue fields of a save or set.
func checkTexts(tags []string, gitRepository string, languages, frameworks []string) error {
	for _, f := range []struct {
		name string
		vals []string
	}{{"tag", tags}, {"git_repository", []string{gitRepository}}, {"language", languages}, {"framework", frameworks}} {
		for _, v := range f.vals {
			if err := checkText(f.name, v); err != nil {
				return err
			}
		}
	}
	return nil
}
