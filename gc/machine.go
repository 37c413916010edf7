package gc

import (
	"os"
	"strings"
	"sync"
)

// thisMachine names this machine in leases: the host name and, where the
// system has one, its machine id (two machines may share a host name).
var thisMachine = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				return host + "/" + id
			}
		}
	}
	return host
})

// liveSessions holds the sessions of this process whose leases are live:
// a lease of this machine and process that is not among them was left by
// a session that ended without removing it.
var liveSessions sync.Map

// deadHere reports whether a lease was written on this machine by a
// process that has ended, or by this process for a session that ended.
func (l *Leases) deadHere(r LeaseRecord) bool {
	if r.Machine == "" || r.Machine != l.machine {
		return false
	}
	if r.PID == os.Getpid() {
		_, live := liveSessions.Load(r.Session)
		return !live
	}
	return !ProcessAlive(r.PID)
}
