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
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silo-dev/silo/object"
)

// Session kinds.
const (
	KindStore  = "store"  // stores a version (directory, tar, template)
	KindUpload = "upload" // a generation of the blob upload protocol
	KindRead   = "read"   // reads blobs (restore, check, backup, export)
	KindWrite  = "write"  // writes catalogue records or copies blobs in
	KindGC     = "gc"     // a collection
)

const leasePrefix = "locks/"

// DefaultTTL is how long a lease lives without a refresh.
const DefaultTTL = 5 * time.Minute

// LeaseRecord is the content of a lease file.
type LeaseRecord struct {
	Session   string    `json:"session"`
	Seq       int       `json:"seq"`
	Kind      string    `json:"kind"`
	Host      string    `json:"host"`
	Machine   string    `json:"machine,omitempty"` // host name and machine id
	PID       int       `json:"pid"`
	Command   string    `json:"command,omitempty"`
	Started   time.Time `json:"started"`
	Refreshed time.Time `json:"refreshed"`
	TTL       int64     `json:"ttl_seconds"`

	file string // the lease file List read it from
}

// Expired reports whether the lease was last refreshed more than its TTL
// before now.
func (r LeaseRecord) Expired(now time.Time) bool {
	return now.Sub(r.Refreshed) > time.Duration(r.TTL)*time.Second
}

// String names the session for messages.
func (r LeaseRecord) String() string {
	s := fmt.Sprintf("%s session %s on %s (pid %d", r.Kind, r.Session, r.Host, r.PID)
	if r.Command != "" {
		s += ", " + r.Command
	}
	return s + fmt.Sprintf(", started %s)", r.Started.UTC().Format(time.RFC3339))
}

func leaseName(session string, seq int) string {
	return fmt.Sprintf("%s%s-%08d.json", leasePrefix, session, seq)
}

// Leases writes and lists the leases of a backend.
type Leases struct {
	be      object.Backend
	now     func() time.Time
	ttl     time.Duration
	log     *slog.Logger
	machine string
}

// LeasesOptions configure NewLeases.
type LeasesOptions struct {
	Now    func() time.Time // default time.Now
	TTL    time.Duration    // default DefaultTTL
	Logger *slog.Logger
	// Machine names this machine in leases (default: host name and
	// machine id); process tests give each simulated machine its own.
	Machine string
}

// NewLeases returns the lease keeper of be.
//
// be is the view leases and plans are written through: in an encrypted
// repository object.SealedFiles of the repository's backend.
func NewLeases(be object.Backend, opts LeasesOptions) *Leases {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Machine == "" {
		opts.Machine = thisMachine()
	}
	return &Leases{be: be, now: opts.Now, ttl: opts.TTL, log: opts.Logger, machine: opts.Machine}
}

// TTL returns the lease lifetime.
func (l *Leases) TTL() time.Duration { return l.ttl }

// Now is the clock leases are judged by.
func (l *Leases) Now() time.Time { return l.now() }

// Lease is a session's live lease.
type Lease struct {
	l    *Leases
	rec  LeaseRecord
	mu   sync.Mutex
	last time.Time // last successful write, by l.now
	// lapsed: a refresh came more than half the TTL after the write
	// before it (a process stopped, a laptop asleep); it stays set until
	// Renew, so a refresh on resuming does not hide the lapse
	lapsed bool
	skew   time.Duration
	stop   chan struct{}
	done   chan struct{}
	ended  bool
}

func newSessionID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Start writes a new lease and keeps refreshing it until End.
func (l *Leases) Start(ctx context.Context, kind, command string) (*Lease, error) {
	host, _ := os.Hostname()
	now := l.now().UTC()
	le := &Lease{l: l, rec: LeaseRecord{Session: newSessionID(), Kind: kind, Host: host, Machine: l.machine, PID: os.Getpid(),
		Command: command, Started: now, Refreshed: now, TTL: int64(l.ttl / time.Second)},
		stop: make(chan struct{}), done: make(chan struct{})}
	if le.rec.TTL < 1 {
		le.rec.TTL = 1
	}
	wall := time.Now()
	liveSessions.Store(le.rec.Session, true)
	fi, err := le.write(ctx, le.rec)
	if err != nil {
		liveSessions.Delete(le.rec.Session)
		return nil, fmt.Errorf("write lease in %s: %w", l.be.Location(), err)
	}
	le.last = now
	// the backend's time of the write against this machine's: leases are
	// judged by the writers' clocks, which must agree (see Skew)
	if !fi.ModTime.IsZero() {
		after := time.Now()
		switch {
		case fi.ModTime.After(after.Add(time.Second)):
			le.skew = fi.ModTime.Sub(after)
		case fi.ModTime.Before(wall.Add(-time.Second)):
			le.skew = fi.ModTime.Sub(wall)
		}
	}
	go le.refresher()
	return le, nil
}

// write puts a lease file (a name only this session writes) and returns
// the backend's info of it.
func (le *Lease) write(ctx context.Context, rec LeaseRecord) (object.FileInfo, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return object.FileInfo{}, err
	}
	return object.PutNew(ctx, le.l.be, leaseName(rec.Session, rec.Seq), bytes.NewReader(b), int64(len(b)))
}

// Record returns the lease as last written.
func (le *Lease) Record() LeaseRecord {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.rec
}

// Skew is how far the backend's clock was from this machine's when the
// lease was written (0 within a second, the resolution of S3's times).
func (le *Lease) Skew() time.Duration { return le.skew }

// Session returns the session id.
func (le *Lease) Session() string { return le.rec.Session }

func (le *Lease) refresher() {
	defer close(le.done)
	t := time.NewTicker(max(le.l.ttl/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-le.stop:
			return
		case <-t.C:
			if err := le.Refresh(context.Background()); err != nil {
				le.l.log.Warn("lease refresh failed", "session", le.rec.Session, "err", err)
			}
		}
	}
}

// Refresh writes the lease anew (seq+1) and removes the previous file.
func (le *Lease) Refresh(ctx context.Context) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	if le.ended {
		return nil
	}
	next := le.rec
	next.Seq++
	next.Refreshed = le.l.now().UTC()
	if _, err := le.write(ctx, next); err != nil {
		return err
	}
	old := le.rec
	if le.l.now().Sub(le.last) > le.l.ttl/2 {
		le.lapsed = true
	}
	le.rec, le.last = next, next.Refreshed
	if err := le.l.be.Delete(ctx, leaseName(old.Session, old.Seq)); err != nil && !errors.Is(err, object.ErrNotFound) {
		le.l.log.Debug("old lease file stays", "err", err)
	}
	return nil
}

// Lapsed reports whether the lease went more than half its TTL without a
// successful refresh, now or at any time since it started (or since the
// last Renew): a collection may then have taken the session for dead, and
// what it relied on must be checked again before it is recorded.
func (le *Lease) Lapsed() bool {
	le.mu.Lock()
	defer le.mu.Unlock()
	return le.lapsed || le.l.now().Sub(le.last) > le.l.ttl/2
}

// Renew refreshes the lease and forgets an earlier lapse: the caller has
// taken note of it (Lapsed) and checks again what it relies on.
func (le *Lease) Renew(ctx context.Context) error {
	if err := le.Refresh(ctx); err != nil {
		return err
	}
	le.mu.Lock()
	le.lapsed = false
	le.mu.Unlock()
	return nil
}

// End stops refreshing and deletes the lease.
func (le *Lease) End(ctx context.Context) {
	le.mu.Lock()
	if le.ended {
		le.mu.Unlock()
		return
	}
	le.ended = true
	rec := le.rec
	le.mu.Unlock()
	close(le.stop)
	<-le.done
	liveSessions.Delete(rec.Session)
	if err := le.l.be.Delete(ctx, leaseName(rec.Session, rec.Seq)); err != nil && !errors.Is(err, object.ErrNotFound) {
		le.l.log.Warn("cannot remove lease; it expires by itself", "session", rec.Session, "err", err)
	}
}

// List returns the newest record of every session with a lease file.
// An unreadable lease file counts as a live session (a collection must not
// take it lightly), named by its file, until the file is twice the TTL
// old by the backend's time: a live session writes a new file every
// quarter TTL, so one left that long is a dead session's, as a readable
// lease refreshed that long ago would be expired.
func (l *Leases) List(ctx context.Context) ([]LeaseRecord, error) {
	for attempt := 0; ; attempt++ {
		out, vanished, err := l.listOnce(ctx)
		// a newest file that went away between the list and the read was
		// refreshed (a newer one exists) or its session ended: list again
		if err != nil || !vanished || attempt == 3 {
			return out, err
		}
	}
}

func (l *Leases) listOnce(ctx context.Context) (out []LeaseRecord, vanished bool, err error) {
	type file struct {
		name string
		seq  int
		mod  time.Time
	}
	newest := map[string]file{}
	var stale []string
	err = l.be.List(ctx, leasePrefix, func(fi object.FileInfo) error {
		base := strings.TrimSuffix(strings.TrimPrefix(fi.Name, leasePrefix), ".json")
		i := strings.LastIndexByte(base, '-')
		if i < 0 {
			return nil
		}
		seq, err := strconv.Atoi(base[i+1:])
		if err != nil {
			return nil
		}
		sess := base[:i]
		if cur, ok := newest[sess]; ok {
			if cur.seq > seq {
				stale = append(stale, fi.Name)
				return nil
			}
			stale = append(stale, cur.name)
		}
		newest[sess] = file{fi.Name, seq, fi.ModTime}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("list leases in %s: %w", l.be.Location(), err)
	}
	for sess, f := range newest {
		rec, err := l.read(ctx, f.name)
		switch {
		case errors.Is(err, object.ErrNotFound):
			vanished = true
			// counted live until a new listing says otherwise
			rec = LeaseRecord{Session: sess, Kind: "unknown", Refreshed: l.now(), TTL: int64(l.ttl / time.Second)}
		case err != nil:
			rec = LeaseRecord{Session: sess, Kind: "unknown", Refreshed: l.now(), TTL: int64(2 * l.ttl / time.Second)}
			if !f.mod.IsZero() && f.mod.Before(rec.Refreshed) {
				rec.Refreshed = f.mod
			}
			if rec.Expired(l.now()) {
				l.log.Warn("unreadable lease left unrefreshed for twice the TTL: its session is gone", "file", f.name, "written", f.mod, "err", err)
			} else {
				l.log.Warn("unreadable lease counts as live", "file", f.name, "err", err)
			}
		}
		rec.file = f.name
		out = append(out, rec)
	}
	for _, name := range stale {
		l.be.Delete(ctx, name) // superseded by a newer file of its session
	}
	slices.SortFunc(out, func(a, b LeaseRecord) int { return strings.Compare(a.Session, b.Session) })
	return out, vanished, nil
}

func (l *Leases) read(ctx context.Context, name string) (LeaseRecord, error) {
	var rec LeaseRecord
	rc, err := l.be.Get(ctx, name, 0, -1)
	if err != nil {
		return rec, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("lease %s: %w", name, err)
	}
	return rec, nil
}

// Prune deletes the lease files of sessions whose leases expired a TTL
// ago or more (killed processes': without it locks/ grows with every
// crash, and every listing reads each file again), and returns how many.
// Such a session is gone for every collection already; one that wakes up
// renews with a new file (RenewLapsed). Only a collection calls it, after
// checking this machine's clock against the backend's: a machine whose
// clock runs ahead would delete live sessions' leases.
func (l *Leases) Prune(ctx context.Context) (int, error) {
	all, err := l.List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range all {
		if r.file == "" || !r.Expired(l.now().Add(-l.ttl)) {
			continue
		}
		if err := l.be.Delete(ctx, r.file); err != nil && !errors.Is(err, object.ErrNotFound) {
			return n, fmt.Errorf("remove the expired lease %s: %w", r.file, err)
		}
		l.log.Info("removed the lease of a session gone for over a TTL", "file", r.file, "refreshed", r.Refreshed)
		n++
	}
	return n, nil
}

// Alive returns the sessions whose leases have not expired, except skip:
// a lease expires TTL after its last refresh, or at once when it was
// written on this machine by a process (or session of this process) that
// has ended.
func (l *Leases) Alive(ctx context.Context, skip string) ([]LeaseRecord, error) {
	all, err := l.List(ctx)
	if err != nil {
		return nil, err
	}
	now := l.now()
	var out []LeaseRecord
	for _, r := range all {
		if r.Session != skip && !r.Expired(now) && !l.deadHere(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// stopRefreshing stops the refresher without removing the lease, as a
// crash would (for tests).
func (le *Lease) stopRefreshing() {
	le.mu.Lock()
	defer le.mu.Unlock()
	if !le.ended {
		le.ended = true
		close(le.stop)
	}
}

// Backend returns the backend (the control view) leases and plans go
// through.
func (l *Leases) Backend() object.Backend { return l.be }
