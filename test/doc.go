// Package test is the home of end-to-end, load, crash and fault tests and of
// the provider and CRM simulators they drive. Unit and conformance tests
// live beside the code they test.
package test
