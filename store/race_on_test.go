//go:build race

package store

// raceDetector: the race detector's shadow memory and slower collection
// make heaps grow several times what they do in a normal build.
const raceDetector = true
