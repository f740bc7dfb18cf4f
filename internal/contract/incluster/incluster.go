// Package incluster describes the metrics of zerodown's in-cluster roles,
// the poller's and the controller's, for the metric contract
// (internal/contract: its Parts.Roles). A package of its own: the roles
// link client-go, which zerodown-lite does not.
package incluster

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/controller"
	"github.com/zerodown/zerodown/poller"
)

// Describe describes the metrics the poller and the controller export
// beyond the probe engine's and every role's.
func Describe(ch chan<- *prometheus.Desc) error {
	poller.Describe(ch)
	return controller.Describe(ch)
}
