package testtarget

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Record is one closed fault window of the ground truth.
type Record struct {
	Fault Fault     `json:"fault"`
	From  time.Time `json:"from"` // JSON: RFC 3339 with nanoseconds
	To    time.Time `json:"to"`
}

// Duration is how long the window lasted.
func (r Record) Duration() time.Duration { return r.To.Sub(r.From) }

// Window is one step of a Run plan: Fault from At to At+Duration, both
// offsets from the start of Run.
type Window struct {
	Fault    Fault
	At       time.Duration
	Duration time.Duration
}

// Set switches to fault f now and returns the time stamped in the ground
// truth: the start of f's window, or the end of the previous window when f
// is Healthy. The previous window, if any, is closed at the same instant,
// except after Refuse, which ends only once all listeners listen again.
// Setting the fault already in force changes nothing and returns the start
// of its window (time.Now() if Healthy).
func (s *Server) Set(f Fault) time.Time {
	at, _, _ := s.set(f)
	return at
}

// Window sets f, sleeps until d after the stamped start, sets Healthy and
// returns the window's ground truth record. A Healthy window is a pause:
// its record is not part of Truth.
func (s *Server) Window(f Fault, d time.Duration) Record {
	from, _, _ := s.set(f)
	time.Sleep(time.Until(from.Add(d)))
	to, closed, _ := s.set(Healthy)
	if closed != nil && closed.Fault == f && closed.From.Equal(from) {
		return *closed
	}
	return Record{Fault: f, From: from, To: to}
}

// Run runs the windows of plan at their offsets from the call, in order,
// and returns when the last has ended. On ctx's end (or Close) it ends the
// window in force and returns ctx.Err(). Windows must be in order and must
// not overlap; Healthy windows are pauses. Run also returns the errors of
// listening again after Refuse: such a listener stays closed until the end
// of a later Refuse window.
func (s *Server) Run(ctx context.Context, plan []Window) error {
	start := time.Now()
	if err := validatePlan(plan); err != nil {
		return err
	}
	var errs []error
	for _, w := range plan {
		if err := s.sleepUntil(ctx, start.Add(w.At)); err != nil {
			return errors.Join(append(errs, err)...)
		}
		from, _, err := s.set(w.Fault)
		if err != nil {
			errs = append(errs, err)
		}
		stopped := s.sleepUntil(ctx, from.Add(w.Duration))
		if _, _, err := s.set(Healthy); err != nil {
			errs = append(errs, err)
		}
		if stopped != nil {
			return errors.Join(append(errs, stopped)...)
		}
	}
	return errors.Join(errs...)
}

func validatePlan(plan []Window) error {
	var errs []error
	var end time.Duration
	for i, w := range plan {
		if !slices.Contains(faults, w.Fault) {
			errs = append(errs, fmt.Errorf("testtarget: plan[%d]: unknown fault %q", i, w.Fault))
		}
		if w.At < 0 || w.Duration < 0 {
			errs = append(errs, fmt.Errorf("testtarget: plan[%d]: negative At or Duration", i))
		}
		if w.At < end {
			errs = append(errs, fmt.Errorf("testtarget: plan[%d]: starts at %v, before plan[%d] ends at %v", i, w.At, i-1, end))
		}
		end = w.At + w.Duration
	}
	return errors.Join(errs...)
}

var errClosed = errors.New("testtarget: server closed")

func (s *Server) sleepUntil(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return errClosed
	}
}

// Truth returns the closed fault windows so far, in order.
func (s *Server) Truth() []Record {
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	return slices.Clone(s.truth)
}

// set switches to f. It returns the stamped time, the window it closed (if
// any) and the error of listening again after Refuse.
func (s *Server) set(f Fault) (time.Time, *Record, error) {
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	prev := s.current()
	if f == prev {
		if s.open != nil {
			return s.open.From, nil, nil
		}
		return time.Now(), nil, nil
	}
	var at time.Time
	var err error
	switch {
	case prev == Refuse:
		// The new fault goes first, so that connections accepted by the
		// listeners as they come back are not reset as refused.
		s.fault.Store(faultPtr(f))
		err = s.resumeListeners()
		at = time.Now()
		s.drop(f)
	case f == Refuse:
		at = time.Now()
		s.fault.Store(faultPtr(f))
		s.pauseListeners()
		s.resetConns()
	default:
		at = time.Now()
		s.fault.Store(faultPtr(f))
		switch prev {
		case Hang, DropBlackhole:
			s.resetHungConns()
		case DropGraceful:
			for _, r := range s.reloaders() {
				r.hardStop()
			}
		}
		s.drop(f)
	}
	var closed *Record
	if s.open != nil {
		s.open.To = at
		s.truth = append(s.truth, *s.open)
		closed, s.open = s.open, nil
	}
	if f != Healthy {
		s.open = &Record{Fault: f, From: at}
	}
	if prev == Refuse {
		s.relistenErr = err
	}
	return at, closed, err
}

func (s *Server) tcpListeners() []*listener {
	return []*listener{s.lnHTTP, s.lnHTTPS, s.lnH2C, s.lnTCP, s.lnDNS}
}

func (s *Server) pauseListeners() {
	for _, l := range s.tcpListeners() {
		l.pause()
	}
}

func (s *Server) resumeListeners() error {
	deadline := time.Now().Add(relistenTimeout)
	var errs []error
	for _, l := range s.tcpListeners() {
		if err := l.resume(deadline); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
