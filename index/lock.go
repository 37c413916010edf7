package index

import (
	"os"
	"time"
)

// lockWait polls tryLock until it succeeds or the deadline passes. The
// first retries come fast (a commit takes milliseconds), later ones back
// off to 5 ms.
func lockWait(f *os.File, exclusive bool, deadline time.Time) (bool, error) {
	pause := 50 * time.Microsecond
	for {
		ok, err := tryLock(f, exclusive)
		if ok || err != nil {
			return ok, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		time.Sleep(pause)
		pause = min(2*pause, 5*time.Millisecond)
	}
}
