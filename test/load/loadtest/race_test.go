//go:build race

package loadtest

// raceEnabled: under the race detector every store call is many times
// slower (the SQLite driver is C translated to Go), so the tests shrink.
const raceEnabled = true
