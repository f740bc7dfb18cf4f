package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image make image builds is the one the Dockerfile describes: the
// Dockerfile's own final stage is read, and the archive written from it
// holds the binary where the Dockerfile copies it, runs as its USER (a
// user the image's passwd knows) with its ENTRYPOINT.
func TestDockerfileAgrees(t *testing.T) {
	ctx := t.TempDir()
	bin := filepath.Join(ctx, "bin", "zerodown-static")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("the binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spec, err := FromDockerfile("Dockerfile", f, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Base != DistrolessStatic || spec.User != "65532:65532" || !slices.Equal(spec.Entrypoint, []string{"/zerodown"}) ||
		len(spec.Files) != 1 || spec.Files[0].Dest != "/zerodown" || spec.Files[0].Src != bin {
		t.Fatalf("the Dockerfile read as %+v", spec)
	}
	out := filepath.Join(t.TempDir(), "zerodown.tar")
	if err := Write(out, "zerodown:dev", spec); err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != spec.User || !slices.Equal(cf.Config.Entrypoint, spec.Entrypoint) || cf.OS != "linux" {
		t.Errorf("image config: user %q entrypoint %q os %q", cf.Config.User, cf.Config.Entrypoint, cf.OS)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]*tar.Header{}
	body := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got["/"+strings.TrimSuffix(h.Name, "/")] = h
		b, _ := io.ReadAll(tr)
		body["/"+h.Name] = string(b)
	}
	if h := got["/zerodown"]; h == nil || h.Mode != 0o755 || body["/zerodown"] != "the binary" {
		t.Errorf("/zerodown: %+v %q", h, body["/zerodown"])
	}
	uid, _, _ := strings.Cut(spec.User, ":")
	if !strings.Contains(body["/etc/passwd"], ":x:"+uid+":") {
		t.Errorf("USER %s is not in /etc/passwd:\n%s", spec.User, body["/etc/passwd"])
	}
	if h := got["/tmp"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("/tmp: %+v", h)
	}
	if h := got["/etc/ssl/certs/ca-certificates.crt"]; h == nil || h.Size == 0 {
		t.Errorf("no CA bundle: %+v", h)
	}
}

// What this tool cannot build is an error naming the line.
func TestDockerfileRefused(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"another base", "FROM debian:12\nENTRYPOINT [\"/x\"]\n", "Dockerfile:1: FROM: base debian:12"},
		{"RUN in the final stage", "FROM golang AS build\nWORKDIR /src\nFROM gcr.io/distroless/static\nRUN true\n", "Dockerfile:4: RUN: not supported"},
		{"shell-form entrypoint", "FROM gcr.io/distroless/static\nENTRYPOINT /x\n", "Dockerfile:2: ENTRYPOINT: want the exec form"},
		{"a COPY from outside WORKDIR", "FROM golang AS build\nWORKDIR /src\nFROM gcr.io/distroless/static\nCOPY --from=build /other/x /x\n", "Dockerfile:4: COPY: /other/x is not under"},
		{"no final stage", "FROM golang AS build\n", "no final stage"},
	} {
		_, err := FromDockerfile("Dockerfile", strings.NewReader(tc.file), ".")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
