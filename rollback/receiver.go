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
// decodes leniently, answers at once with the decisions, and leaves the
// actions to the executor.
type Receiver struct {
	Executor *Executor
	// TokenFile, if set, holds the bearer token every request must carry
	// (read at every request: it may be rotated).
	TokenFile string
	Logger    *slog.Logger
}

// Answer is the body of the receiver's reply.
type Answer struct {
	Decisions []Decision `json:"decisions"`
	Error     string     `json:"error,omitempty"`
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reply := func(code int, a Answer) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(a)
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(http.StatusMethodNotAllowed, Answer{Error: "POST an Alertmanager webhook message"})
		return
	}
	if r.TokenFile != "" {
		want, err := os.ReadFile(r.TokenFile)
		if err != nil {
			// Ours, and perhaps passing (a rotation): Alertmanager retries.
			log.Error("reading the rollback token file", "file", r.TokenFile, "err", err)
			reply(http.StatusServiceUnavailable, Answer{Error: "the receiver cannot read its token"})
			return
		}
		got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(strings.TrimSpace(string(want)))) != 1 {
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
	ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
	defer cancel()
	reply(http.StatusOK, Answer{Decisions: r.Executor.Submit(ctx, m)})
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
