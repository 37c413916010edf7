package gc

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// at parses "2006-01-02 15:04" in UTC.
func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// series names versions v1.. at the given times (oldest first, as a
// project grows).
func series(times ...string) []Version {
	out := make([]Version, len(times))
	for i, s := range times {
		out[i] = Version{ID: fmt.Sprintf("v%d", i+1), Time: at(s)}
	}
	return out
}

// kept returns the ids kept, newest first.
func kept(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Keep {
			out = append(out, d.ID)
		}
	}
	return out
}

func TestPolicyApply(t *testing.T) {
	// a year of versions: several a day, across week, month and year ends
	year := series(
		"2023-12-30 09:00", // v1  Sat, ISO week 2023-52
		"2023-12-31 23:59", // v2  Sun, ISO week 2023-52
		"2024-01-01 00:00", // v3  Mon, ISO week 2024-01
		"2024-01-01 08:00", // v4
		"2024-01-01 08:30", // v5  same hour as v4
		"2024-01-07 12:00", // v6  Sun, week 01
		"2024-01-08 12:00", // v7  Mon, week 02
		"2024-02-29 10:00", // v8  leap day
		"2024-03-01 10:00", // v9
		"2024-03-01 10:59", // v10 same hour as v9
		"2024-03-01 11:00", // v11
	)
	tests := []struct {
		name string
		pol  Policy
		in   []Version
		want []string // kept, newest first
	}{
		{"last 1", Policy{Last: 1}, year, []string{"v11"}},
		{"last 3", Policy{Last: 3}, year, []string{"v11", "v10", "v9"}},
		{"last more than there are", Policy{Last: 50}, year,
			[]string{"v11", "v10", "v9", "v8", "v7", "v6", "v5", "v4", "v3", "v2", "v1"}},
		{"hourly 2", Policy{Hourly: 2}, year, []string{"v11", "v10"}},
		{"hourly 4", Policy{Hourly: 4}, year, []string{"v11", "v10", "v8", "v7"}},
		{"daily 1", Policy{Daily: 1}, year, []string{"v11"}},
		{"daily 4", Policy{Daily: 4}, year, []string{"v11", "v8", "v7", "v6"}},
		{"daily 6 crosses the year", Policy{Daily: 6}, year, []string{"v11", "v8", "v7", "v6", "v5", "v2"}},
		// Thu Feb 29 and Fri Mar 1 share ISO week 2024-09
		{"weekly 3", Policy{Weekly: 3}, year, []string{"v11", "v7", "v6"}},
		{"weekly 5: ISO week 2024-01 starts on Monday Jan 1", Policy{Weekly: 5}, year, []string{"v11", "v7", "v6", "v2"}},
		{"monthly 2", Policy{Monthly: 2}, year, []string{"v11", "v8"}},
		{"monthly 4", Policy{Monthly: 4}, year, []string{"v11", "v8", "v7", "v2"}},
		{"yearly 1", Policy{Yearly: 1}, year, []string{"v11"}},
		{"yearly 3", Policy{Yearly: 3}, year, []string{"v11", "v2"}},
		{"last 2 + monthly 3", Policy{Last: 2, Monthly: 3}, year, []string{"v11", "v10", "v8", "v7"}},
		{"daily 2 + weekly 2 + yearly 2", Policy{Daily: 2, Weekly: 2, Yearly: 2}, year, []string{"v11", "v8", "v7", "v2"}},
		{"hourly 1 + daily 1: newest only", Policy{Hourly: 1, Daily: 1}, year, []string{"v11"}},
		{"every rule", Policy{Last: 1, Hourly: 2, Daily: 2, Weekly: 2, Monthly: 2, Yearly: 2}, year,
			[]string{"v11", "v10", "v8", "v7", "v2"}},
		{"one version", Policy{Daily: 3}, series("2024-05-05 05:05"), []string{"v1"}},
		{"no versions", Policy{Last: 3}, nil, nil},
		// the newest is kept even by a policy whose rules all keep nothing
		{"empty policy keeps the newest", Policy{}, year, []string{"v11"}},
		// equal times: the order given decides among them, stably
		{"ties", Policy{Last: 2}, series("2024-01-01 00:00", "2024-01-01 00:00", "2024-01-01 00:00"), []string{"v1", "v2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := tt.pol.Apply(tt.in, time.UTC)
			if len(ds) != len(tt.in) {
				t.Fatalf("%d decisions for %d versions", len(ds), len(tt.in))
			}
			if got := kept(ds); !slices.Equal(got, tt.want) {
				t.Errorf("kept %v, want %v", got, tt.want)
			}
			for i := 1; i < len(ds); i++ {
				if ds[i].Time.After(ds[i-1].Time) {
					t.Fatalf("decisions not newest first at %d", i)
				}
			}
			for _, d := range ds {
				if d.Keep != (len(d.Reasons) > 0) {
					t.Errorf("%s: keep=%v with reasons %v", d.ID, d.Keep, d.Reasons)
				}
			}
			if len(ds) > 0 && !slices.Contains(ds[0].Reasons, "newest") {
				t.Errorf("newest decision %+v", ds[0])
			}
		})
	}
}

func TestPolicyReasons(t *testing.T) {
	ds := Policy{Last: 1, Daily: 2, Monthly: 1}.Apply(series("2024-01-01 10:00", "2024-01-02 10:00", "2024-01-02 11:00"), nil)
	want := map[string]string{"v3": "newest,last,daily,monthly", "v2": "", "v1": "daily"}
	for _, d := range ds {
		if got := strings.Join(d.Reasons, ","); got != want[d.ID] {
			t.Errorf("%s: reasons %q, want %q", d.ID, got, want[d.ID])
		}
	}
}

func TestPolicyTimeZone(t *testing.T) {
	// 23:30 UTC and 00:30 UTC the next day: two days in UTC, one day in
	// UTC-5 (18:30 and 19:30) and in UTC+1 (00:30 and 01:30 on June 2)
	vs := series("2024-06-01 23:30", "2024-06-02 00:30")
	if got := kept(Policy{Daily: 2}.Apply(vs, time.UTC)); !slices.Equal(got, []string{"v2", "v1"}) {
		t.Errorf("UTC: %v", got)
	}
	if got := kept(Policy{Daily: 2}.Apply(vs, time.FixedZone("UTC-5", -5*3600))); !slices.Equal(got, []string{"v2"}) {
		t.Errorf("UTC-5: %v", got)
	}
	if got := kept(Policy{Daily: 2}.Apply(vs, time.FixedZone("UTC+1", 3600))); !slices.Equal(got, []string{"v2"}) {
		t.Errorf("UTC+1: %v", got)
	}
}

func TestPolicyInputOrderAndCopy(t *testing.T) {
	in := series("2024-01-01 10:00", "2024-01-05 10:00", "2024-02-01 10:00", "2024-02-03 10:00", "2025-01-01 00:00")
	want := kept(Policy{Monthly: 2, Last: 1}.Apply(in, nil))
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		sh := slices.Clone(in)
		r.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
		before := slices.Clone(sh)
		if got := kept(Policy{Monthly: 2, Last: 1}.Apply(sh, nil)); !slices.Equal(got, want) {
			t.Fatalf("shuffled input %v: kept %v, want %v", sh, got, want)
		}
		if !slices.EqualFunc(sh, before, func(a, b Version) bool { return a.ID == b.ID && a.Time.Equal(b.Time) }) {
			t.Fatal("Apply reordered its input")
		}
	}
}

// TestPolicyProperties checks, over random histories and policies, what
// every policy promises: the newest is kept, Last keeps exactly the N
// newest, and each bucket rule keeps exactly the newest version of each of
// its N newest buckets.
func TestPolicyProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	keys := map[string]func(time.Time) string{
		"hourly":  func(t time.Time) string { return t.Format("2006-01-02 15") },
		"daily":   func(t time.Time) string { return t.Format("2006-01-02") },
		"weekly":  func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprint(y, w) },
		"monthly": func(t time.Time) string { return t.Format("2006-01") },
		"yearly":  func(t time.Time) string { return t.Format("2006") },
	}
	for range 300 {
		n := r.IntN(40)
		base := at("2022-01-01 00:00")
		var vs []Version
		for i := range n {
			vs = append(vs, Version{ID: fmt.Sprint("v", i), Time: base.Add(time.Duration(r.Int64N(int64(3 * 365 * 24 * time.Hour))))})
		}
		pol := Policy{Last: r.IntN(4), Hourly: r.IntN(4), Daily: r.IntN(4), Weekly: r.IntN(4), Monthly: r.IntN(4), Yearly: r.IntN(3)}
		ds := pol.Apply(vs, time.UTC)
		if n > 0 && !ds[0].Keep {
			t.Fatalf("%+v: newest not kept", pol)
		}
		counts := map[string]int{"hourly": pol.Hourly, "daily": pol.Daily, "weekly": pol.Weekly, "monthly": pol.Monthly, "yearly": pol.Yearly}
		for rule, key := range keys {
			// expected: the first (newest) version of each of the first N
			// distinct buckets
			want := map[string]bool{}
			seen := map[string]bool{}
			for _, d := range ds {
				k := key(d.Time)
				if seen[k] {
					continue
				}
				if len(seen) == counts[rule] {
					break
				}
				seen[k] = true
				want[d.ID] = true
			}
			for _, d := range ds {
				if slices.Contains(d.Reasons, rule) != want[d.ID] {
					t.Fatalf("%+v rule %s: %s (%v) reasons %v", pol, rule, d.ID, d.Time, d.Reasons)
				}
			}
		}
		for i, d := range ds {
			if slices.Contains(d.Reasons, "last") != (i < pol.Last) {
				t.Fatalf("%+v: last at %d: %v", pol, i, d.Reasons)
			}
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := (Policy{Daily: -1}).Validate(); err == nil {
		t.Error("negative daily accepted")
	}
	if err := (Policy{Last: 0, Yearly: 3}).Validate(); err != nil {
		t.Error(err)
	}
	if !(Policy{}).Empty() || (Policy{Hourly: 1}).Empty() {
		t.Error("Empty")
	}
}

// Tags keeps every version carrying one of the tags, besides what the other
// rules keep, and says why.
func TestPolicyKeepsTags(t *testing.T) {
	in := series("2024-01-01 10:00", "2024-01-02 10:00", "2024-01-03 10:00", "2024-01-04 10:00")
	in[0].Tags = []string{"rel1"}
	in[2].Tags = []string{"x", "rel2"}
	p := Policy{Last: 1, Tags: []string{"rel1", "rel2"}}
	got := p.Apply(in, nil)
	want := map[string]string{in[3].ID: "last", in[2].ID: "tag rel2", in[0].ID: "tag rel1"}
	for _, d := range got {
		why, ok := want[d.ID]
		if d.Keep != ok || (ok && !slices.Contains(d.Reasons, why)) {
			t.Errorf("%s: keep %v %v, want kept=%v for %q", d.ID, d.Keep, d.Reasons, ok, why)
		}
	}
	if (Policy{Tags: []string{"a"}}).Empty() {
		t.Error("a policy with only a tag rule is empty")
	}
}
