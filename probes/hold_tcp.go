package probes

import (
	"context"
	"net"
	"time"

	"github.com/zerodown/zerodown/config"
)

// tcpHeld is a held TCP connection. With the target's send set, every
// check sends it and waits for an answer; without, the kernel's TCP
// keepalive (idle for a check, then a probe every check, three unanswered
// probes end it) finds a silent peer, and every check that finds the
// connection open counts as answered.
type tcpHeld struct {
	c       net.Conn
	send    []byte
	check   time.Duration
	timeout time.Duration
}

func newTCPHold(cfg *config.TCPProbe, check, timeout time.Duration) dialHeld {
	d := net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: check, Interval: check, Count: 3}}
	if cfg.Send != "" {
		d.KeepAlive = -1 // the checks find a silent peer
		d.KeepAliveConfig = net.KeepAliveConfig{}
	}
	send := []byte(cfg.Send)
	return func(ctx context.Context) (heldConn, error) {
		c, err := d.DialContext(ctx, "tcp", cfg.Address)
		if err != nil {
			return nil, err
		}
		return &tcpHeld{c: c, send: send, check: check, timeout: timeout}, nil
	}
}

func (t *tcpHeld) protocol() string { return "tcp" }

func (t *tcpHeld) close() { t.c.Close() }

func (t *tcpHeld) run(ctx context.Context, alive func()) (DropReason, error) {
	errc := make(chan error, 1)
	data := newSignal()
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := t.c.Read(buf)
			if n > 0 {
				data.notify()
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	tick := time.NewTicker(t.check)
	defer tick.Stop()
	for {
		if reason, err, ok := nextCheck(ctx, tick, errc); !ok {
			return reason, err
		}
		if len(t.send) == 0 {
			alive()
			continue
		}
		data.drain()
		t.c.SetWriteDeadline(time.Now().Add(t.timeout))
		if _, err := t.c.Write(t.send); err != nil {
			return dropReasonOf(err), err
		}
		reason, err, ok := awaitAnswer(ctx, data, errc, t.timeout)
		if !ok {
			return reason, err
		}
		alive()
	}
}
