//go:build windows

package replica

// DeviceUnknown is what DeviceOf returns where it cannot tell.
const DeviceUnknown = "unknown"

// DeviceOf has no st_dev to read on Windows: a remembered destination is
// judged by the repository it holds alone.
func DeviceOf(string) string { return DeviceUnknown }
