package netmatrix

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zerodown/zerodown/config"
	"github.com/zerodown/zerodown/probes"
)

var (
	disruptionDesc = prometheus.NewDesc("zerodown_network_disruption_seconds_total",
		"Time the path from this poller's node to a peer's (or to the Service in front of the pollers) was disrupted: the network matrix. Observer-side failures (this node impaired, this process starved) are not in it.",
		[]string{"path", "source_node", "target_node"}, nil)
	upDesc = prometheus.NewDesc("zerodown_network_up",
		"1 if the path to the peer answers now, 0 if its latest probe failed.",
		[]string{"path", "source_node", "target_node"}, nil)
	peersDesc = prometheus.NewDesc("zerodown_network_peers",
		"Peers (and Services) this poller probes now, by path.",
		[]string{"path", "source_node"}, nil)
)

// Collector exports the network matrix from the engine's network series
// (those named net:PATH:NODE, over new connections). Their request,
// latency and up series are the engine's own, under those backend names.
type Collector struct {
	Self     string                 // this poller's node
	Path     string                 // its peer probes' path (zerodown_network_peers is 0 without any)
	Statuses func() []probes.Status // the engine's
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- disruptionDesc
	ch <- upDesc
	ch <- peersDesc
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	peers := map[string]int{}
	for _, s := range c.Statuses() {
		path, node, ok := Parse(s.Backend)
		if !ok || s.Connection != config.ConnNew || s.Removed {
			continue
		}
		peers[path]++
		ch <- prometheus.MustNewConstMetric(disruptionDesc, prometheus.CounterValue, s.Disruption.Seconds(), path, c.Self, node)
		if s.HaveResult {
			up := 0.0
			if s.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up, path, c.Self, node)
		}
	}
	if _, ok := peers[c.Path]; !ok && c.Path != "" {
		peers[c.Path] = 0
	}
	for path, n := range peers {
		ch <- prometheus.MustNewConstMetric(peersDesc, prometheus.GaugeValue, float64(n), path, c.Self)
	}
}
