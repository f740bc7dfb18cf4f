package role

import (
	"cmp"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
)

// Build is what zerodown_build_info says of the binary, with the labels
// Prometheus's own prometheus_build_info has.
type Build struct {
	Version   string // "make build": git describe; else the main module's version, "(devel)" for a plain go build
	Revision  string // the commit, "-modified" appended when the tree was
	Branch    string // known only from -ldflags ("make build")
	GoVersion string
	GoOS      string
	GoArch    string
	Tags      string // the build tags (-tags), comma-separated: "", or "netgo,osusergo" (make build-static)
}

// CurrentBuild is this binary's build: what -ldflags gave
// prometheus/common/version ("make build" sets Version, Revision and
// Branch), the rest from the binary's Go build info.
func CurrentBuild() Build {
	bi, _ := debug.ReadBuildInfo()
	return BuildOf(Build{Version: version.Version, Revision: version.Revision, Branch: version.Branch,
		GoVersion: runtime.Version(), GoOS: runtime.GOOS, GoArch: runtime.GOARCH}, bi)
}

// BuildOf completes ld, what -ldflags set, from bi, a binary's Go build
// info (nil: none): the main module's version, the VCS revision
// (vcs.revision, and vcs.modified), the build tags (-tags), the Go
// version and platform. A field -ldflags set is kept.
func BuildOf(ld Build, bi *debug.BuildInfo) Build {
	b := ld
	if bi == nil {
		return b
	}
	b.Version = cmp.Or(b.Version, bi.Main.Version)
	b.GoVersion = cmp.Or(b.GoVersion, bi.GoVersion)
	var rev, tags, goos, goarch string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		case "-tags":
			tags = s.Value
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if rev != "" && modified {
		rev += "-modified"
	}
	b.Revision = cmp.Or(b.Revision, rev)
	b.Tags = cmp.Or(b.Tags, tags)
	b.GoOS = cmp.Or(b.GoOS, goos)
	b.GoArch = cmp.Or(b.GoArch, goarch)
	return b
}

var buildInfoDesc = prometheus.NewDesc("zerodown_build_info",
	"A metric with a constant '1' value labeled by version, revision, branch, goversion from which zerodown was built, and the goos, goarch and build tags of the build.",
	[]string{"version", "revision", "branch", "goversion", "goos", "goarch", "tags"}, nil)

// buildInfo exports zerodown_build_info.
type buildInfo struct{ b Build }

// NewBuildInfo returns the collector of zerodown_build_info for b.
func NewBuildInfo(b Build) prometheus.Collector { return buildInfo{b} }

// Describe implements prometheus.Collector.
func (buildInfo) Describe(ch chan<- *prometheus.Desc) { ch <- buildInfoDesc }

// Collect implements prometheus.Collector.
func (c buildInfo) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1,
		c.b.Version, c.b.Revision, c.b.Branch, c.b.GoVersion, c.b.GoOS, c.b.GoArch, c.b.Tags)
}
