//go:build race

package snapshot_test

// raceDetector: the race detector slows the tests several times over, so
// their time bounds do not hold.
const raceDetector = true
