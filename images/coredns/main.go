// Command coredns is CoreDNS v1.15.0 with only the plugins the e2e
// cluster's DNS needs (kubernetes, cache, health, ready, metrics, errors,
// log, loadbalance, reload), built from the module like the control plane
// is, because nothing can be pulled from an image registry here. Its own
// module keeps CoreDNS's dependency graph out of zerodown's and the
// images' modules. Configured by a Corefile, as upstream's image is.
package main

import (
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"

	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
