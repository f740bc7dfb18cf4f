package role

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func settings(kv ...string) []debug.BuildSetting {
	var s []debug.BuildSetting
	for i := 0; i+1 < len(kv); i += 2 {
		s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
	}
	return s
}

func TestBuildOf(t *testing.T) {
	const rev = "dc8b461d0a5c9e1f0b7e1c1f2a3b4c5d6e7f8a9b"
	info := func(mainVersion string, kv ...string) *debug.BuildInfo {
		return &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/zerodown/zerodown", Version: mainVersion},
			Settings: settings(kv...)}
	}
	for _, tc := range []struct {
		name string
		ld   Build
		bi   *debug.BuildInfo
		want Build
	}{
		{name: "plain go build of the full build in a clean checkout",
			bi:   info("(devel)", "-compiler", "gc", "GOARCH", "amd64", "GOOS", "linux", "vcs", "git", "vcs.revision", rev, "vcs.modified", "false"),
			want: Build{Version: "(devel)", Revision: rev, GoVersion: "go1.26.0", GoOS: "linux", GoArch: "amd64", Tags: ""}},
		{name: "go build -tags netgo of a modified tree",
			bi:   info("v0.0.0-20261201100000-dc8b461d0a5c+dirty", "-tags", "netgo", "GOARCH", "arm64", "GOOS", "linux", "vcs.revision", rev, "vcs.modified", "true"),
			want: Build{Version: "v0.0.0-20261201100000-dc8b461d0a5c+dirty", Revision: rev + "-modified", GoVersion: "go1.26.0", GoOS: "linux", GoArch: "arm64", Tags: "netgo"}},
		{name: "go build -tags osusergo",
			bi:   info("(devel)", "-tags", "osusergo", "vcs.revision", rev),
			want: Build{Version: "(devel)", Revision: rev, GoVersion: "go1.26.0", Tags: "osusergo"}},
		{name: "go install module@version: no VCS",
			bi:   info("v0.4.0", "-trimpath", "true", "GOOS", "darwin", "GOARCH", "arm64"),
			want: Build{Version: "v0.4.0", GoVersion: "go1.26.0", GoOS: "darwin", GoArch: "arm64"}},
		{name: "make build: -ldflags win, the tags and the platform come from the build info",
			ld: Build{Version: "v0.4.0-3-gdc8b461", Revision: "dc8b461", Branch: "main", GoVersion: "go1.26.0", GoOS: "linux", GoArch: "amd64"},
			bi: info("(devel)", "-tags", "netgo,osusergo", "-ldflags", "-s -w -X ...", "GOOS", "linux", "GOARCH", "amd64", "vcs.revision", rev, "vcs.modified", "true"),
			want: Build{Version: "v0.4.0-3-gdc8b461", Revision: "dc8b461", Branch: "main", GoVersion: "go1.26.0", GoOS: "linux", GoArch: "amd64",
				Tags: "netgo,osusergo"}},
		{name: "no build info",
			ld:   Build{GoVersion: "go1.26.0", GoOS: "linux", GoArch: "amd64"},
			want: Build{GoVersion: "go1.26.0", GoOS: "linux", GoArch: "amd64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := BuildOf(tc.ld, tc.bi); got != tc.want {
				t.Errorf("BuildOf:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestBuildInfoMetric(t *testing.T) {
	c := NewBuildInfo(Build{Version: "v0.4.0", Revision: "dc8b461", Branch: "main", GoVersion: "go1.26.0", GoOS: "linux", GoArch: "amd64", Tags: "netgo,osusergo"})
	want := `# HELP zerodown_build_info A metric with a constant '1' value labeled by version, revision, branch, goversion from which zerodown was built, and the goos, goarch and build tags of the build.
# TYPE zerodown_build_info gauge
zerodown_build_info{branch="main",goarch="amd64",goos="linux",goversion="go1.26.0",revision="dc8b461",tags="netgo,osusergo",version="v0.4.0"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// The test binary's own build: real values, not placeholders.
func TestCurrentBuild(t *testing.T) {
	b := CurrentBuild()
	if b.Version == "" || b.GoVersion == "" || b.GoOS == "" || b.GoArch == "" {
		t.Errorf("CurrentBuild() = %+v: want a version, a Go version and a platform", b)
	}
	if b.Tags == "unknown" || b.Revision == "unknown" {
		t.Errorf("CurrentBuild() = %+v: placeholders", b)
	}
}
