package kube

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
)

// Delegated authenticates and authorizes HTTP requests as kube-rbac-proxy
// and controller-runtime's WithAuthenticationAndAuthorization do: the
// request's bearer token is reviewed by the API server (TokenReview), and
// its user must be allowed the request's verb (get) on its path as a
// non-resource URL (SubjectAccessReview), as Prometheus's ServiceAccount is
// on /metrics. No token: 401; a token the API server does not know: 401;
// a user not allowed: 403.
//
// Answers are cached for a minute. While the API server cannot answer (an
// upgrade of the control plane, the very thing being measured), an earlier
// allow of the same token and path is kept for up to an hour, so a scrape
// is not lost to it; anything else is a 503.
type Delegated struct {
	c   *Client
	now func() time.Time
	// ask reviews a token for a path (the API server's reviews; tests).
	ask func(ctx context.Context, token, path string) (int, error)

	mu    sync.Mutex
	cache map[[32]byte]verdict
}

type verdict struct {
	code int // 200, 401 or 403
	at   time.Time
}

// Delegated's cache lifetimes.
const (
	reviewFresh   = time.Minute
	reviewStale   = time.Hour // an allow, while the API server cannot answer
	reviewEntries = 1024
)

// NewDelegated reviews requests with c.
func NewDelegated(c *Client) *Delegated {
	d := &Delegated{c: c, now: time.Now, cache: map[[32]byte]verdict{}}
	d.ask = d.askAPI
	return d
}

// Wrap guards next: only reviewed and allowed requests reach it.
func (d *Delegated) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		token = strings.TrimSpace(token)
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="zerodown"`)
			http.Error(w, "Unauthorized: a bearer token is required (a Kubernetes ServiceAccount token allowed get on "+r.URL.Path+")", http.StatusUnauthorized)
			return
		}
		switch code := d.review(r.Context(), token, r.URL.Path); code {
		case http.StatusOK:
			next.ServeHTTP(w, r)
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="zerodown"`)
			http.Error(w, "Unauthorized: the API server does not know this token", code)
		case http.StatusForbidden:
			http.Error(w, "Forbidden: get on the non-resource URL "+r.URL.Path+" is not allowed to this user", code)
		default:
			http.Error(w, "the API server cannot review the token now: retry", http.StatusServiceUnavailable)
		}
	})
}

// review returns 200, 401, 403, or 503 (no answer and nothing cached).
func (d *Delegated) review(ctx context.Context, token, path string) int {
	key := sha256.Sum256([]byte(path + "\x00" + token))
	now := d.now()
	d.mu.Lock()
	v, cached := d.cache[key]
	d.mu.Unlock()
	if cached && now.Sub(v.at) < reviewFresh {
		return v.code
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	code, err := d.ask(ctx, token, path)
	if err != nil {
		if cached && v.code == http.StatusOK && now.Sub(v.at) < reviewStale {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.cache) >= reviewEntries { // bounded: forget the oldest
		var oldest [32]byte
		first := true
		for k, e := range d.cache {
			if first || e.at.Before(d.cache[oldest].at) {
				oldest, first = k, false
			}
		}
		delete(d.cache, oldest)
	}
	d.cache[key] = verdict{code: code, at: now}
	return code
}

// askAPI sends the TokenReview and the SubjectAccessReview.
func (d *Delegated) askAPI(ctx context.Context, token, path string) (int, error) {
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}
	var trOut authenticationv1.TokenReview
	if err := d.c.authn.Post().Resource("tokenreviews").Body(tr).Do(ctx).Into(&trOut); err != nil {
		return 0, err
	}
	if !trOut.Status.Authenticated {
		return http.StatusUnauthorized, nil
	}
	u := trOut.Status.User
	extra := map[string]authorizationv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: "get"},
	}}
	var sarOut authorizationv1.SubjectAccessReview
	if err := d.c.authz.Post().Resource("subjectaccessreviews").Body(sar).Do(ctx).Into(&sarOut); err != nil {
		return 0, err
	}
	if !sarOut.Status.Allowed {
		return http.StatusForbidden, nil
	}
	return http.StatusOK, nil
}
