package gc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/object"
)

const planPrefix = "gc/"

// Pending is a plan: packs a collection condemned, to be deleted once no
// session that may refer to them lives (see the package doc).
type Pending struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Host    string    `json:"host"`
	// Packs are the condemned packs.
	Packs []PackRef `json:"packs"`
	// Into are the packs the live blobs of rewritten packs were copied to.
	Into []object.ID `json:"into,omitempty"`

	// Armed lists the sessions alive right after the plan was written
	// (nil: not armed yet).
	Armed *Armed `json:"-"`
}

// PackRef names a condemned pack.
type PackRef struct {
	ID        object.ID `json:"id"`
	Size      int64     `json:"size"`
	Rewritten bool      `json:"rewritten,omitempty"` // its live blobs were copied first
}

// Armed is the armed record of a plan.
type Armed struct {
	Time     time.Time     `json:"time"`
	Sessions []LeaseRecord `json:"sessions"`
}

// Done records what a carried-out plan deleted.
type Done struct {
	ID      string      `json:"id"`
	Time    time.Time   `json:"time"`
	Deleted []object.ID `json:"deleted"`
	Kept    []object.ID `json:"kept,omitempty"` // found live by the fresh mark
	// Armed and WaitedFor say when the plan was armed and which sessions
	// it waited for (an audit trail of the protocol).
	Armed     time.Time `json:"armed"`
	WaitedFor []string  `json:"waited_for,omitempty"`
}

// DoneKeep is how long done records stay.
const DoneKeep = 30 * 24 * time.Hour

func newPlanID(now time.Time) string {
	var b [6]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func planName(id, kind string) string { return planPrefix + id + "." + kind + ".json" }

func putJSON(ctx context.Context, be object.Backend, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return be.Put(ctx, name, bytes.NewReader(b), int64(len(b)))
}

func getJSON(ctx context.Context, be object.Backend, name string, v any) error {
	rc, err := be.Get(ctx, name, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 256<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s in %s: %w", name, be.Location(), err)
	}
	return nil
}

// Plans are the pending plans of a backend, and its done records (listed;
// read on demand).
type Plans struct {
	Pending []*Pending
	done    []doneRef
	be      object.Backend
}

type doneRef struct {
	id      string
	modTime time.Time // the backend's time of the done record
}

// Condemned returns every pack a pending plan condemns.
func (p *Plans) Condemned() map[object.ID]bool {
	out := map[object.ID]bool{}
	for _, pl := range p.Pending {
		for _, pr := range pl.Packs {
			out[pr.ID] = true
		}
	}
	return out
}

// NewestDone is the backend's time of the newest done record (zero when
// there is none): a plan was carried out, and packs deleted, then.
func (p *Plans) NewestDone() time.Time {
	var t time.Time
	for _, d := range p.done {
		if d.modTime.After(t) {
			t = d.modTime
		}
	}
	return t
}

// Deleted reads the done records and returns every pack they name.
func (p *Plans) Deleted(ctx context.Context) (map[object.ID]bool, error) {
	out := map[object.ID]bool{}
	for _, ref := range p.done {
		var d Done
		if err := getJSON(ctx, p.be, planName(ref.id, "done"), &d); err != nil {
			if errors.Is(err, object.ErrNotFound) {
				continue // expired meanwhile
			}
			return nil, err
		}
		for _, id := range d.Deleted {
			out[id] = true
		}
	}
	return out, nil
}

// LoadPlans lists gc/ and reads every pending plan and its armed record. A
// plan or armed record that cannot be read is an error: a session must not
// overlook a condemnation. A plan carried out between the listing and its
// reading is found again by listing anew (as a done record).
func LoadPlans(ctx context.Context, be object.Backend) (*Plans, error) {
	for attempt := 0; ; attempt++ {
		out, vanished, err := loadPlans(ctx, be)
		if err != nil || !vanished || attempt == 5 {
			return out, err
		}
	}
}

func loadPlans(ctx context.Context, be object.Backend) (out *Plans, vanished bool, err error) {
	kinds := map[string]map[string]bool{}
	doneTimes := map[string]time.Time{}
	err = be.List(ctx, planPrefix, func(fi object.FileInfo) error {
		base := strings.TrimSuffix(strings.TrimPrefix(fi.Name, planPrefix), ".json")
		id, kind, ok := strings.Cut(base, ".")
		if !ok {
			return nil
		}
		if kinds[id] == nil {
			kinds[id] = map[string]bool{}
		}
		kinds[id][kind] = true
		if kind == "done" {
			doneTimes[id] = fi.ModTime
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("list plans in %s: %w", be.Location(), err)
	}
	out = &Plans{be: be}
	for id, k := range kinds {
		switch {
		case k["plan"]:
			var p Pending
			if err := getJSON(ctx, be, planName(id, "plan"), &p); err != nil {
				if errors.Is(err, object.ErrNotFound) {
					vanished = true // carried out meanwhile: its done record is new
					continue
				}
				return nil, false, fmt.Errorf("read gc plan %s: %w", id, err)
			}
			if k["armed"] {
				var a Armed
				if err := getJSON(ctx, be, planName(id, "armed"), &a); err != nil && !errors.Is(err, object.ErrNotFound) {
					return nil, false, fmt.Errorf("read gc plan %s: %w", id, err)
				} else if err == nil {
					p.Armed = &a
				}
			}
			out.Pending = append(out.Pending, &p)
		case k["done"]:
			out.done = append(out.done, doneRef{id, doneTimes[id]})
		}
	}
	slices.SortFunc(out.Pending, func(a, b *Pending) int { return strings.Compare(a.ID, b.ID) })
	return out, vanished, nil
}

// writePlan makes a plan visible.
func writePlan(ctx context.Context, be object.Backend, p *Pending) error {
	if err := putJSON(ctx, be, planName(p.ID, "plan"), p); err != nil {
		return fmt.Errorf("write gc plan %s: %w", p.ID, err)
	}
	return nil
}

// arm lists the live sessions (but self) and records them as the plan's
// armed record. It must run after the plan is visible.
func arm(ctx context.Context, be object.Backend, leases *Leases, self string, p *Pending) error {
	alive, err := leases.Alive(ctx, self)
	if err != nil {
		return err
	}
	a := &Armed{Time: leases.Now().UTC(), Sessions: alive}
	if a.Sessions == nil {
		a.Sessions = []LeaseRecord{}
	}
	if err := putJSON(ctx, be, planName(p.ID, "armed"), a); err != nil {
		return fmt.Errorf("arm gc plan %s: %w", p.ID, err)
	}
	p.Armed = a
	return nil
}

// waiting returns the sessions of the plan's armed record that still hold
// an unexpired lease among alive.
func (p *Pending) waiting(alive []LeaseRecord) []LeaseRecord {
	if p.Armed == nil {
		return nil
	}
	live := map[string]LeaseRecord{}
	for _, r := range alive {
		live[r.Session] = r
	}
	var out []LeaseRecord
	for _, r := range p.Armed.Sessions {
		if cur, ok := live[r.Session]; ok {
			out = append(out, cur)
		}
	}
	return out
}

// finish replaces a carried-out plan by its done record.
func finish(ctx context.Context, be object.Backend, p *Pending, d *Done) error {
	if err := putJSON(ctx, be, planName(p.ID, "done"), d); err != nil {
		return fmt.Errorf("record gc plan %s done: %w", p.ID, err)
	}
	for _, k := range []string{"armed", "plan"} {
		if err := be.Delete(ctx, planName(p.ID, k)); err != nil && !errors.Is(err, object.ErrNotFound) {
			return fmt.Errorf("remove gc plan %s: %w", p.ID, err)
		}
	}
	return nil
}

// expireDone removes done records older than DoneKeep (by the backend's
// times).
func expireDone(ctx context.Context, be object.Backend, plans *Plans, now time.Time) {
	for _, d := range plans.done {
		if !d.modTime.IsZero() && now.Sub(d.modTime) > DoneKeep {
			be.Delete(ctx, planName(d.id, "done"))
		}
	}
}
