package rollback

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/zerodown/zerodown/rules/notify"
)

// Path is where the receiver is served.
const Path = "/alertmanager/webhook"

// MaxBody bounds a request's body (Alertmanager's messages are a few KB
// per alert; its max_alerts bounds them).
const MaxBody = 1 << 20

// Receiver is the webhook Alertmanager posts to: it authenticates,
// decodes leniently, and answers once the actions are decided and done
// (or AnswerWithin has passed). Every delivery ends in a decision of the
// leader or in an answer Alertmanager retries: 200 when every alert is
// decided (done, skipped and why, refused for good), 503 when one is not
// (this replica does not lead, an action failed in passing or is still
// running). A 503 closes the connection, so that Alertmanager's retry
// opens a new one, which the Service may send to the leader.
type Receiver struct {
	Executor *Executor
	// TokenFile, if set, holds the bearer token every request must carry
	// (read at every request: it may be rotated). Check it with ReadToken
	// before serving.
	TokenFile string
	// AnswerWithin bounds how long a request waits for its actions
	// (default DefaultAnswerWithin); they go on after it.
	AnswerWithin time.Duration
	Logger       *slog.Logger
}

// DefaultAnswerWithin is how long the receiver waits for the actions of
// a delivery before it answers in_progress (503): less than
// Alertmanager's shortest notification timeout (10 s).
const DefaultAnswerWithin = 8 * time.Second

// Answer is the body of the receiver's reply.
type Answer struct {
	Decisions []Decision `json:"decisions"`
	Error     string     `json:"error,omitempty"`
}

// ReadToken reads a bearer token file: an unreadable file, or one that
// holds nothing but white space, is an error (an empty token would admit
// every request that sends an empty one).
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%s: the token file is empty: want a bearer token", path)
	}
	return t, nil
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reply := func(code int, a Answer) {
		w.Header().Set("Content-Type", "application/json")
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(a)
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(http.StatusMethodNotAllowed, Answer{Error: "POST an Alertmanager webhook message"})
		return
	}
	if r.TokenFile != "" {
		want, err := ReadToken(r.TokenFile)
		if err != nil {
			// Ours, and perhaps passing (a rotation): Alertmanager retries.
			log.Error("reading the rollback token file", "file", r.TokenFile, "err", err)
			reply(http.StatusServiceUnavailable, Answer{Error: "the receiver cannot read its token"})
			return
		}
		got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		got = strings.TrimSpace(got)
		if !ok || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			log.Warn("rollback webhook: request without a valid bearer token", "remote", req.RemoteAddr)
			reply(http.StatusUnauthorized, Answer{Error: "a valid bearer token is required"})
			return
		}
	}
	m, err := Decode(http.MaxBytesReader(w, req.Body, MaxBody))
	if err != nil {
		code := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			code = http.StatusRequestEntityTooLarge
		}
		log.Warn("rollback webhook: bad request", "remote", req.RemoteAddr, "err", err)
		reply(code, Answer{Error: err.Error()})
		return
	}
	within := r.AnswerWithin
	if within <= 0 {
		within = DefaultAnswerWithin
	}
	ctx, cancel := context.WithTimeout(req.Context(), within)
	defer cancel()
	a := Answer{Decisions: r.Executor.Submit(ctx, m)}
	for _, d := range a.Decisions {
		if Retry(d.Result) {
			a.Error = "not every alert is decided yet (" + d.Result + "): retry"
			reply(http.StatusServiceUnavailable, a)
			return
		}
	}
	reply(http.StatusOK, a)
}

// Decode reads an Alertmanager webhook message leniently: fields added by
// newer versions are ignored, a missing version is accepted; only a
// message that is not JSON, has another version or no alerts is refused.
func Decode(body io.Reader) (*notify.Message, error) {
	var m notify.Message
	if err := json.NewDecoder(body).Decode(&m); err != nil {
		return nil, fmt.Errorf("not an Alertmanager webhook message: %w", err)
	}
	if m.Version != "" && m.Version != "4" {
		return nil, fmt.Errorf("webhook message version %q: want 4", m.Version)
	}
	if len(m.Alerts) == 0 {
		return nil, errors.New("webhook message without alerts")
	}
	for i, a := range m.Alerts {
		if a.Labels["alertname"] == "" {
			return nil, fmt.Errorf("alerts[%d]: no alertname label", i)
		}
		if a.Status != "firing" && a.Status != "resolved" {
			return nil, fmt.Errorf("alerts[%d]: status %q: want firing or resolved", i, a.Status)
		}
	}
	return &m, nil
}
