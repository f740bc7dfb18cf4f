package testtarget

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	bigSize         = 10 << 20
	defaultSlowness = time.Second
)

// chunk is what /big and /endless send, over and over.
var chunk = bytes.Repeat([]byte("zerodown testtarget\n"), 32<<10/20)

// serveHTTP is the handler of all three HTTP servers:
//
//	/status/NNN   answers status NNN (200..599)
//	/endless      streams bytes until the client goes away
//	/stream?every=DUR  writes a line every DUR (default 1s) until the client goes away
//	/slow?d=DUR   waits DUR (default 1s) and answers like /
//	/big          answers 10 MiB
//	anything else 200 "ok served-by=VALUE\n"
//
// Every answer but errors carries the header X-Served-By.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if s.current() == HTTP503 {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "fault http_503\n")
		return
	}
	switch path := r.URL.Path; {
	case strings.HasPrefix(path, "/status/"):
		code, err := strconv.Atoi(strings.TrimPrefix(path, "/status/"))
		if err != nil || code < 200 || code > 599 {
			http.Error(w, "bad status: want /status/NNN with NNN in 200..599", http.StatusBadRequest)
			return
		}
		by := s.split.next()
		h.Set("X-Served-By", by)
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d served-by=%s\n", code, by)
	case path == "/endless":
		h.Set("Content-Type", "application/octet-stream")
		h.Set("X-Served-By", s.split.next())
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return
		}
		rc := http.NewResponseController(w)
		for {
			select {
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			default:
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	case path == "/stream":
		every := defaultSlowness
		if v := r.URL.Query().Get("every"); v != "" {
			var err error
			if every, err = time.ParseDuration(v); err != nil || every < time.Millisecond {
				http.Error(w, "bad every: want a duration of at least 1ms such as 500ms", http.StatusBadRequest)
				return
			}
		}
		h.Set("X-Served-By", s.split.next())
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for n := 0; ; n++ {
			if _, err := fmt.Fprintf(w, "tick %d\n", n); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			}
		}
	case path == "/slow":
		d := defaultSlowness
		if v := r.URL.Query().Get("d"); v != "" {
			var err error
			if d, err = time.ParseDuration(v); err != nil || d < 0 {
				http.Error(w, "bad d: want a non-negative duration such as 500ms", http.StatusBadRequest)
				return
			}
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
		s.writeOK(w)
	case path == "/big":
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.Itoa(bigSize))
		h.Set("X-Served-By", s.split.next())
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return
		}
		for left := bigSize; left > 0; {
			n, err := w.Write(chunk[:min(left, len(chunk))])
			if err != nil {
				return
			}
			left -= n
		}
	default:
		s.writeOK(w)
	}
}

func (s *Server) writeOK(w http.ResponseWriter) {
	by := s.split.next()
	w.Header().Set("X-Served-By", by)
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "ok served-by="+by+"\n")
}
