//go:build !unix

package probes

import "syscall"

// spreadPorts leaves the source port to the system where binding is not
// written for it.
func spreadPorts(string, string, syscall.RawConn) error { return nil }
