//go:build nokube

package contract

import "github.com/prometheus/client_golang/prometheus"

// A nokube build has no poller or controller: it knows watch's metrics only.
func describeRoles(chan<- *prometheus.Desc) (bool, error) { return false, nil }
