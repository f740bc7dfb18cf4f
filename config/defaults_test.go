package config

import (
	"reflect"
	"slices"
	"testing"
)

func TestDefault(t *testing.T) {
	want := Schedule{FastFor: ms(2000), Interval: ms(1000), FastInterval: ms(10), Timeout: ms(1000), MaxInFlight: 200}
	if got := Default(); got != want {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
}

func TestDefaultMaxInFlight(t *testing.T) {
	for _, tc := range []struct {
		timeout, fast Duration
		want          int
	}{
		{ms(1000), ms(10), 200},
		{ms(1000), ms(1), 256},  // 2000, capped
		{ms(1000), ms(16), 126}, // 2*63
		{ms(1000), ms(17), 118}, // 2*ceil(58.8)
		{ms(1000), ms(50), 40},
		{ms(250), ms(100), 6}, // 2*ceil(2.5)
		{ms(200), ms(100), 4},
		{ms(10), ms(100), 2},
		{0, ms(10), 1},
	} {
		if got := defaultMaxInFlight(tc.timeout, tc.fast); got != tc.want {
			t.Errorf("defaultMaxInFlight(%s, %s) = %d, want %d", tc.timeout, tc.fast, got, tc.want)
		}
	}
}

// A target's own schedule fields override the file's defaults, which
// override the built-ins.
func TestDefaultsPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name     string
		defaults string // the defaults block, indented
		target   string // schedule fields of the target, indented
		want     Schedule
	}{
		{
			name: "built-in",
			want: Schedule{FastFor: ms(2000), Interval: ms(1000), FastInterval: ms(10), Timeout: ms(1000), MaxInFlight: 200},
		},
		{
			name:     "file defaults",
			defaults: "interval: 200ms\n  fast_interval: 20ms\n  timeout: 500ms\n",
			want:     Schedule{FastFor: ms(2000), Interval: ms(200), FastInterval: ms(20), Timeout: ms(500), MaxInFlight: 50},
		},
		{
			name:     "file max_in_flight beats the computed one",
			defaults: "max_in_flight: 5\n",
			target:   "timeout: 3s\n",
			want:     Schedule{FastFor: ms(2000), Interval: ms(1000), FastInterval: ms(10), Timeout: ms(3000), MaxInFlight: 5},
		},
		{
			name:     "target beats file",
			defaults: "interval: 200ms\n  fast_interval: 20ms\n  timeout: 500ms\n  max_in_flight: 5\n",
			target:   "interval: 2s\n    fast_interval: 100ms\n    timeout: 3s\n    max_in_flight: 7\n",
			want:     Schedule{FastFor: ms(2000), Interval: ms(2000), FastInterval: ms(100), Timeout: ms(3000), MaxInFlight: 7},
		},
		{
			name:     "mixed, field by field",
			defaults: "interval: 200ms\n  timeout: 500ms\n",
			target:   "fast_interval: 100ms\n",
			want:     Schedule{FastFor: ms(2000), Interval: ms(200), FastInterval: ms(100), Timeout: ms(500), MaxInFlight: 10},
		},
		{
			name:     "inherited fast_interval capped at the target's interval",
			defaults: "fast_interval: 100ms\n",
			target:   "interval: 50ms\n",
			want:     Schedule{FastFor: ms(2000), Interval: ms(50), FastInterval: ms(50), Timeout: ms(1000), MaxInFlight: 40},
		},
		{
			name:   "computed max_in_flight follows the target's own timeout",
			target: "timeout: 20ms\n",
			want:   Schedule{FastFor: ms(2000), Interval: ms(1000), FastInterval: ms(10), Timeout: ms(20), MaxInFlight: 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := ""
			if tc.defaults != "" {
				doc += "defaults:\n  " + tc.defaults
			}
			doc += "targets:\n  - name: a\n    tcp: {address: 'a.example.com:80'}\n"
			if tc.target != "" {
				doc += "    " + tc.target
			}
			c, err := Parse([]byte(doc), "t.yaml")
			if err != nil {
				t.Fatalf("%v\n%s", err, doc)
			}
			if got := c.Targets[0].Schedule; got != tc.want {
				t.Errorf("schedule %+v, want %+v\n%s", got, tc.want, doc)
			}
		})
	}
}

func TestResolvedKinds(t *testing.T) {
	c := &Config{Targets: []Target{
		{Name: "h", HTTP: &HTTPProbe{URL: "http://a.example.com/", Method: "head"}},
		{Name: "t", TCP: &TCPProbe{Address: "a.example.com:80"}},
		{Name: "d", DNS: &DNSProbe{Name: "a.example.com", Type: "aaaa", Transport: "TCP", Rcode: "nxdomain"}},
		{Name: "explicit", Connections: []Connection{ConnReused}, TCP: &TCPProbe{Address: "a.example.com:80"}},
	}}
	r := c.Resolved()
	for i, want := range [][]Connection{{ConnNew, ConnReused}, {ConnNew, ConnReused}, {ConnNew}, {ConnReused}} {
		if got := r.Targets[i].Connections; !slices.Equal(got, want) {
			t.Errorf("%s: connections %v, want %v", r.Targets[i].Name, got, want)
		}
	}
	if h := r.Targets[0].HTTP; h.Method != "HEAD" || h.MaxBodyBytes != 64<<10 || len(h.ValidStatusCodes) != 0 {
		t.Errorf("http resolved to %+v", h)
	}
	if d := r.Targets[2].DNS; !reflect.DeepEqual(d, &DNSProbe{Name: "a.example.com.", Type: "AAAA", Transport: "tcp", Rcode: "NXDOMAIN"}) {
		t.Errorf("dns resolved to %+v", d)
	}
	// Resolving copies: the original is untouched, resolving again changes nothing.
	if c.Targets[0].HTTP.Method != "head" || c.Targets[2].DNS.Name != "a.example.com" || c.Targets[0].Connections != nil {
		t.Errorf("Resolved changed its receiver")
	}
	again := r.Resolved()
	for i := range r.Targets {
		if r.Targets[i].Key() != again.Targets[i].Key() || r.Targets[i].Schedule != again.Targets[i].Schedule {
			t.Errorf("%s changed when resolved twice", r.Targets[i].Name)
		}
	}
}

func TestValidStatus(t *testing.T) {
	def := &HTTPProbe{}
	for code, want := range map[int]bool{199: false, 200: true, 302: true, 399: true, 400: false, 503: false} {
		if got := def.ValidStatus(code); got != want {
			t.Errorf("default ValidStatus(%d) = %v", code, got)
		}
	}
	own := &HTTPProbe{ValidStatusCodes: []int{200, 503}}
	for code, want := range map[int]bool{200: true, 204: false, 503: true} {
		if got := own.ValidStatus(code); got != want {
			t.Errorf("ValidStatus(%d) with [200 503] = %v", code, got)
		}
	}
}
