package gc

import (
	"fmt"
	"slices"
	"time"
)

// Policy says which versions to keep; a version is kept when any rule
// keeps it. The newest version is always kept.
type Policy struct {
	Last    int `json:"keep_last,omitempty"`
	Hourly  int `json:"keep_hourly,omitempty"`
	Daily   int `json:"keep_daily,omitempty"`
	Weekly  int `json:"keep_weekly,omitempty"`
	Monthly int `json:"keep_monthly,omitempty"`
	Yearly  int `json:"keep_yearly,omitempty"`
	// Tags keeps every version carrying one of these version tags.
	Tags []string `json:"keep_tags,omitempty"`
}

// Empty reports whether no rule is set.
func (p Policy) Empty() bool {
	return p.Last == 0 && p.Hourly == 0 && p.Daily == 0 && p.Weekly == 0 && p.Monthly == 0 && p.Yearly == 0 && len(p.Tags) == 0
}

// Validate rejects negative counts.
func (p Policy) Validate() error {
	for _, n := range []int{p.Last, p.Hourly, p.Daily, p.Weekly, p.Monthly, p.Yearly} {
		if n < 0 {
			return fmt.Errorf("gc: retention counts must be 0 or more")
		}
	}
	return nil
}

// Version is what a policy looks at.
type Version struct {
	ID   string
	Time time.Time
	Tags []string `json:"tags,omitempty"` // the version's own tags
}

// Decision is one version's fate and why.
type Decision struct {
	Version
	Keep    bool     `json:"keep"`
	Reasons []string `json:"reasons"`
}

// Apply decides, newest first. Bucket rules keep the newest version of each
// of the last N hours, days, ISO weeks, months or years that have versions,
// in the time zone of loc (nil: UTC).
func (p Policy) Apply(versions []Version, loc *time.Location) []Decision {
	if loc == nil {
		loc = time.UTC
	}
	vs := slices.Clone(versions)
	slices.SortStableFunc(vs, func(a, b Version) int { return b.Time.Compare(a.Time) })
	out := make([]Decision, len(vs))
	for i, v := range vs {
		out[i] = Decision{Version: v}
	}
	keep := func(i int, why string) {
		out[i].Keep = true
		out[i].Reasons = append(out[i].Reasons, why)
	}
	if len(out) > 0 {
		keep(0, "newest")
	}
	for i := 0; i < len(out) && i < p.Last; i++ {
		keep(i, "last")
	}
	for i := range out {
		for _, t := range p.Tags {
			if slices.Contains(out[i].Tags, t) {
				keep(i, "tag "+t)
			}
		}
	}
	rules := []struct {
		n    int
		name string
		key  func(time.Time) string
	}{
		{p.Hourly, "hourly", func(t time.Time) string { return t.Format("2006-01-02 15") }},
		{p.Daily, "daily", func(t time.Time) string { return t.Format("2006-01-02") }},
		{p.Weekly, "weekly", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-%02d", y, w) }},
		{p.Monthly, "monthly", func(t time.Time) string { return t.Format("2006-01") }},
		{p.Yearly, "yearly", func(t time.Time) string { return t.Format("2006") }},
	}
	for _, r := range rules {
		if r.n <= 0 {
			continue
		}
		seen := map[string]bool{}
		for i := range out {
			k := r.key(out[i].Time.In(loc))
			if seen[k] {
				continue
			}
			if len(seen) == r.n {
				break
			}
			seen[k] = true
			keep(i, r.name)
		}
	}
	return out
}
