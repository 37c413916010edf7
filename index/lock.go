package index

import (
	"fmt"
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

// LockFile takes an exclusive lock on the file at path (created when
// missing), waiting up to timeout for other processes; the returned
// function releases it. silo uses it to serialise catalogue commits of the
// processes of one machine.
func LockFile(path string, timeout time.Duration) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	ok, err := lockWait(f, true, time.Now().Add(timeout))
	if err == nil && !ok {
		err = fmt.Errorf("%w: %s held for %v by another silo process", ErrBusy, path, timeout)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		unlock(f)
		f.Close()
	}, nil
}
