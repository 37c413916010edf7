package check

import (
	"fmt"
	"strings"
	"testing"
)

// TestProblemStringSaysHowManyMore: the text output caps the paths it
// prints but says how many it left out.
func TestProblemStringSaysHowManyMore(t *testing.T) {
	p := Problem{Kind: "corrupt-blob", Message: "hash mismatch", PathCount: 1500,
		Snapshots: []AffectedVersion{{Snapshot: strings.Repeat("ab", 32), Project: "demo", Paths: 1500}}}
	for i := range MaxPathsPerVersion {
		p.Paths = append(p.Paths, fmt.Sprintf("demo:/f%04d@abababab", i))
	}
	s := p.String()
	if n := strings.Count(s, "used by "); n != printedPaths {
		t.Errorf("printed %d paths, want %d", n, printedPaths)
	}
	if !strings.Contains(s, fmt.Sprintf("and %d more path(s)", 1500-printedPaths)) {
		t.Errorf("String() does not say how many paths it left out:\n%s", s)
	}
	if !strings.Contains(s, "demo@abababab (1500 path(s))") {
		t.Errorf("String() does not name the version:\n%s", s)
	}
}
