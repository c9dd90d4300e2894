// Package version says which Sluice this binary is.
package version

import (
	"runtime/debug"
)

// Version is the release this source tree will become.
const Version = "0.1.0-dev"

// String returns the version, with the VCS revision when the build
// recorded one.
func String() string {
	s := Version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				s += "+" + kv.Value[:12]
			}
		}
	}
	return s
}
