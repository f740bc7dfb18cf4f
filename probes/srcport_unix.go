//go:build unix

package probes

import (
	"errors"
	"syscall"
)

// spreadPorts is a net.Dialer Control that binds a new TCP socket to the
// next port of the walk before it connects. A port in use (by another
// socket, or one in TIME_WAIT) is skipped for the next; after a few, or on
// any other error, the socket stays unbound and the kernel chooses at
// connect, as usual. Connections to loopback are left to the kernel
// (walks).
func spreadPorts(network, address string, c syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" || !walks(address) {
		return nil
	}
	return c.Control(func(fd uintptr) {
		for range 8 {
			port := sourcePorts.take()
			if port == 0 {
				return
			}
			var sa syscall.Sockaddr = &syscall.SockaddrInet4{Port: port}
			if network == "tcp6" {
				sa = &syscall.SockaddrInet6{Port: port}
			}
			if err := syscall.Bind(int(fd), sa); !errors.Is(err, syscall.EADDRINUSE) {
				return
			}
		}
	})
}
