package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// Stalled and piled-up uploads.
//
// A client that opens an upload and stops sending would otherwise hold its
// request (and its job, its pins, a goroutine and a connection) forever.
// Every request body is read through an idleBody: before each read the
// connection's read deadline moves to now + Options.BodyIdleTimeout, so a
// body that sends nothing for that long fails with 408 body_timeout (the
// upload's job fails, nothing is recorded), however long a busy body takes
// in all. Uploads (tar and blob) running at once from one client address
// are bounded by Options.MaxUploadsPerClient: one more is answered 429
// too_many_uploads.

// idleBody cuts a request body that sends nothing for idle.
type idleBody struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	n    int64 // bytes read, for the message

	mu     sync.Mutex
	cut    bool // canceled: reads fail and the deadline is not moved again
	closed bool // the body hit EOF: the deadline is cleared
}

// idleBody wraps r (the request's body, or a reader over it).
func (s *Server) idleBody(w http.ResponseWriter, r io.Reader) *idleBody {
	return &idleBody{r: r, rc: http.NewResponseController(w), idle: s.opts.BodyIdleTimeout}
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.cut {
		b.mu.Unlock()
		return 0, errBodyCut
	}
	if b.idle > 0 && !b.closed {
		// deadlines are wall-clock time, not the server's injected clock
		b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	b.mu.Unlock()
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		// the server reads on in the background once the body is done;
		// a deadline left behind would cancel the request's context
		// while the handler still works on what it read
		b.mu.Lock()
		if b.idle > 0 && !b.closed && !b.cut {
			b.rc.SetReadDeadline(time.Time{})
		}
		b.closed = true
		b.mu.Unlock()
	case err != nil && isTimeout(err):
		b.mu.Lock()
		cut := b.cut
		b.mu.Unlock()
		if cut {
			return n, errBodyCut
		}
		return n, &apiError{status: http.StatusRequestTimeout, code: "body_timeout",
			msg: fmt.Sprintf("the request body sent nothing for %v (after %d bytes): cut; nothing was recorded", b.idle, b.n)}
	}
	return n, err
}

// stop makes a blocked or later read fail at once (a canceled upload).
func (b *idleBody) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cut = true
	b.rc.SetReadDeadline(time.Now())
}

var errBodyCut = errors.New("request body: upload canceled")

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// uploadSlots counts the uploads running per client address.
type uploadSlots struct {
	max  int // <= 0: no bound
	mu   sync.Mutex
	used map[string]int
}

// acquire takes a slot for the request's client, or answers 429 and
// returns nil. The caller calls the returned func when the upload ends.
func (u *uploadSlots) acquire(w http.ResponseWriter, r *http.Request) func() {
	if u.max <= 0 {
		return func() {}
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	u.mu.Lock()
	if u.used[ip] >= u.max {
		u.mu.Unlock()
		writeError(w, r, &apiError{status: http.StatusTooManyRequests, code: "too_many_uploads",
			msg:     fmt.Sprintf("%d uploads from %s are running already (at most %d at once); retry when one ends", u.max, ip, u.max),
			details: map[string]int{"limit": u.max}})
		return nil
	}
	u.used[ip]++
	u.mu.Unlock()
	return func() {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.used[ip]--; u.used[ip] <= 0 {
			delete(u.used, ip)
		}
	}
}
