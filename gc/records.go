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

// Plans reads the pending plans and the done records of a backend.
type Plans struct {
	Pending []*Pending
	Done    []*Done
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

// Deleted returns every pack a done record names.
func (p *Plans) Deleted() map[object.ID]bool {
	out := map[object.ID]bool{}
	for _, d := range p.Done {
		for _, id := range d.Deleted {
			out[id] = true
		}
	}
	return out
}

// LoadPlans lists gc/ and reads every plan, armed and done record. A plan
// or armed record that cannot be read is an error: a session must not
// overlook a condemnation.
func LoadPlans(ctx context.Context, be object.Backend) (*Plans, error) {
	kinds := map[string]map[string]bool{}
	err := be.List(ctx, planPrefix, func(fi object.FileInfo) error {
		base := strings.TrimSuffix(strings.TrimPrefix(fi.Name, planPrefix), ".json")
		id, kind, ok := strings.Cut(base, ".")
		if !ok {
			return nil
		}
		if kinds[id] == nil {
			kinds[id] = map[string]bool{}
		}
		kinds[id][kind] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list plans in %s: %w", be.Location(), err)
	}
	out := &Plans{}
	for id, k := range kinds {
		switch {
		case k["plan"]:
			var p Pending
			if err := getJSON(ctx, be, planName(id, "plan"), &p); err != nil {
				if errors.Is(err, object.ErrNotFound) {
					continue // carried out meanwhile
				}
				return nil, fmt.Errorf("read gc plan %s: %w", id, err)
			}
			if k["armed"] {
				var a Armed
				if err := getJSON(ctx, be, planName(id, "armed"), &a); err != nil && !errors.Is(err, object.ErrNotFound) {
					return nil, fmt.Errorf("read gc plan %s: %w", id, err)
				} else if err == nil {
					p.Armed = &a
				}
			}
			out.Pending = append(out.Pending, &p)
		case k["done"]:
			var d Done
			if err := getJSON(ctx, be, planName(id, "done"), &d); err == nil {
				out.Done = append(out.Done, &d)
			}
		}
	}
	slices.SortFunc(out.Pending, func(a, b *Pending) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(out.Done, func(a, b *Done) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
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

// expireDone removes done records older than DoneKeep.
func expireDone(ctx context.Context, be object.Backend, plans *Plans, now time.Time) {
	for _, d := range plans.Done {
		if now.Sub(d.Time) > DoneKeep {
			be.Delete(ctx, planName(d.ID, "done"))
		}
	}
}
