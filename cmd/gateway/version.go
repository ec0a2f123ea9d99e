package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// versionString names the build: the version stamped by the Makefile, the
// VCS revision when the toolchain recorded one, and the Go version.
func versionString() string {
	rev := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("gateway %s%s %s %s/%s", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
