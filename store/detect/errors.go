package detect

import "errors"

// ErrTallies means tallies (see Detector.Tallies) that cannot be taken up:
// kept under other rules, damaged, or with a count below zero.
var ErrTallies = errors.New("detect: unusable tallies")
