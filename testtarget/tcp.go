package testtarget

import (
	"bufio"
	"errors"
	"net"
)

// serveLines serves the TCP line protocol: every line the client sends is
// answered "pong\n"; connections stay open for further lines.
func (s *Server) serveLines(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return // only the final Close ends a listener's Accept
		}
		s.goServe(func() { serveLineConn(c) })
	}
}

func serveLineConn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		_, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long line: answer once at its end
		}
		if err != nil {
			return
		}
		if _, err := c.Write([]byte("pong\n")); err != nil {
			return
		}
	}
}
