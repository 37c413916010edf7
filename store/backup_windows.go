//go:build windows

package store

// deviceUnknown is what deviceOf returns where it cannot tell.
const deviceUnknown = "unknown"

// deviceOf has no st_dev to read on Windows: a remembered destination is
// judged by the repository it holds alone.
func deviceOf(string) string { return deviceUnknown }
