//go:build !nokube

package contract

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/controller"
	"github.com/zerodown/zerodown/poller"
)

func describeRoles(ch chan<- *prometheus.Desc) (bool, error) {
	poller.Describe(ch)
	return true, controller.Describe(ch)
}
