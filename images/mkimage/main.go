// Command mkimage builds container image archives without a container
// engine (make image): one layer of files and an image configuration,
// written as a tarball that `ctr images import` and `docker load` take.
//
// With -dockerfile it builds what the Dockerfile's final stage describes
// (its base, COPY, USER and ENTRYPOINT), so the two cannot drift apart:
// the base must be distroless's static image, whose files (passwd and
// group with the nonroot user 65532, the CA bundle, /tmp) it writes
// itself; COPY sources of the build stage are looked up under -context
// with the build stage's WORKDIR taken off.
//
//	mkimage -dockerfile Dockerfile -context . -tag zerodown:dev -out bin/images/zerodown.tar
//	mkimage -base distroless-static -file /sampleapp=bin/sampleapp -entrypoint /sampleapp \
//	        -user 65532:65532 -env VERSION=v2 -tag zerodown-sample:v2 -out bin/images/sample-v2.tar
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec is what an image is made of.
type Spec struct {
	// Base is "" (nothing) or "distroless-static".
	Base string
	// Files maps a path in the image to a file on disk.
	Files      []File
	Entrypoint []string
	User       string
	Env        []string
}

// File is one file of the image's layer.
type File struct {
	Dest, Src string
	Mode      int64
}

// DistrolessStatic names the one base image this tool can stand in for.
const DistrolessStatic = "distroless-static"

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	var (
		dockerfile = flag.String("dockerfile", "", "build what this Dockerfile's final stage describes")
		context    = flag.String("context", ".", "with -dockerfile: the build context, where COPY sources are found")
		base       = flag.String("base", "", "base files: none, or "+DistrolessStatic)
		entrypoint = flag.String("entrypoint", "", "the entrypoint, comma-separated")
		user       = flag.String("user", "", "the user (UID:GID)")
		tag        = flag.String("tag", "", "the image's name and tag (required)")
		out        = flag.String("out", "", "the archive to write (required)")
		files, env multi
	)
	flag.Var(&files, "file", "DEST=SRC: put the file SRC at DEST, executable (repeatable)")
	flag.Var(&env, "env", "KEY=VALUE in the image's environment (repeatable)")
	flag.Parse()
	if *tag == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "mkimage: give -tag and -out (and no arguments); -h for help")
		os.Exit(2)
	}
	var spec Spec
	if *dockerfile != "" {
		f, err := os.Open(*dockerfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
			os.Exit(2)
		}
		spec, err = FromDockerfile(*dockerfile, f, *context)
		f.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
			os.Exit(2)
		}
	} else {
		spec = Spec{Base: *base, User: *user}
		if *entrypoint != "" {
			spec.Entrypoint = strings.Split(*entrypoint, ",")
		}
		for _, f := range files {
			dest, src, ok := strings.Cut(f, "=")
			if !ok || !path.IsAbs(dest) {
				fmt.Fprintf(os.Stderr, "mkimage: -file %q: want /DEST=SRC\n", f)
				os.Exit(2)
			}
			spec.Files = append(spec.Files, File{Dest: dest, Src: src, Mode: 0o755})
		}
	}
	spec.Env = append(spec.Env, env...)
	if err := Write(*out, *tag, spec); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

// FromDockerfile reads the final stage of a Dockerfile: its base (which
// must be distroless's static image), COPY --from=STAGE of files built in
// an earlier stage (found under context, the stage's WORKDIR taken off),
// USER and ENTRYPOINT (exec form). Anything else in the final stage is an
// error: this tool would not build it.
func FromDockerfile(file string, r io.Reader, context string) (Spec, error) {
	var (
		spec    Spec
		workdir = map[string]string{} // stage → WORKDIR
		stage   string
		final   bool
		lineNo  int
	)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		bad := func(format string, a ...any) (Spec, error) {
			return Spec{}, fmt.Errorf("%s:%d: %s: %s", file, lineNo, instr, fmt.Sprintf(format, a...))
		}
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			stage, final = "", true
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stage, final = f[2], false
			}
			spec = Spec{}
			if final {
				if !strings.HasPrefix(f[0], "gcr.io/distroless/static") {
					return bad("base %s: only gcr.io/distroless/static* can be stood in for", f[0])
				}
				spec.Base = DistrolessStatic
			}
		case "WORKDIR":
			workdir[stage] = rest
		case "COPY":
			if !final {
				continue
			}
			f := strings.Fields(rest)
			if len(f) != 3 || !strings.HasPrefix(f[0], "--from=") {
				return bad("want COPY --from=STAGE SRC DEST, got %q", rest)
			}
			wd, ok := workdir[strings.TrimPrefix(f[0], "--from=")]
			if !ok {
				return bad("stage %s has no WORKDIR", strings.TrimPrefix(f[0], "--from="))
			}
			rel, ok := strings.CutPrefix(f[1], strings.TrimSuffix(wd, "/")+"/")
			if !ok {
				return bad("%s is not under the stage's WORKDIR %s", f[1], wd)
			}
			spec.Files = append(spec.Files, File{Dest: f[2], Src: path.Join(context, rel), Mode: 0o755})
		case "USER":
			if final {
				spec.User = rest
			}
		case "ENTRYPOINT":
			if !final {
				continue
			}
			if err := json.Unmarshal([]byte(rest), &spec.Entrypoint); err != nil {
				return bad("want the exec form [\"...\"]: %v", err)
			}
		default:
			if final {
				return bad("not supported in the final stage")
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", file, err)
	}
	if spec.Base == "" {
		return Spec{}, fmt.Errorf("%s: no final stage (FROM without AS)", file)
	}
	return spec, nil
}

// epoch stamps every file and the image: the same inputs make the same
// image.
var epoch = time.Unix(0, 0).UTC()

// Layer is the image's one layer, as an uncompressed tar.
func Layer(spec Spec) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	dir := func(p string, mode int64, uid int) error {
		if dirs[p] {
			return nil
		}
		dirs[p] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: epoch})
	}
	parents := func(p string) error {
		var parts []string
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			parts = append(parts, d)
		}
		slices.Reverse(parts)
		for _, d := range parts {
			if err := dir(d, 0o755, 0); err != nil {
				return err
			}
		}
		return nil
	}
	file := func(p string, mode int64, b []byte) error {
		if err := parents(p); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(b)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	switch spec.Base {
	case "":
	case DistrolessStatic:
		// What distroless's static:nonroot has and a static binary may
		// read: the users, the CA bundle, a writable /tmp, nonroot's home.
		ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
		if err != nil {
			return nil, fmt.Errorf("the CA bundle of the base (Debian's ca-certificates): %w", err)
		}
		for _, f := range []struct {
			p string
			b []byte
		}{
			{"/etc/passwd", []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
			{"/etc/group", []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
			{"/etc/nsswitch.conf", []byte("hosts: files dns\n")},
			{"/etc/ssl/certs/ca-certificates.crt", ca},
		} {
			if err := file(f.p, 0o644, f.b); err != nil {
				return nil, err
			}
		}
		if err := dir("/tmp", 0o1777, 0); err != nil {
			return nil, err
		}
		if err := parents("/home/nonroot/x"); err != nil {
			return nil, err
		}
		if err := dir("/home/nonroot", 0o700, 65532); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("base %q: want none or %s", spec.Base, DistrolessStatic)
	}
	for _, f := range spec.Files {
		b, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Dest, err)
		}
		if err := file(f.Dest, f.Mode, b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Image is the image spec describes.
func Image(spec Spec) (v1.Image, error) {
	b, err := Layer(spec)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", runtime.GOARCH, v1.Time{Time: epoch}
	cf.Config.Entrypoint, cf.Config.User = spec.Entrypoint, spec.User
	cf.Config.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, spec.Env...)
	return mutate.ConfigFile(img, cf)
}

// Write builds the image and writes it, named tag, to out.
func Write(out, tag string, spec Spec) error {
	if len(spec.Entrypoint) == 0 {
		return errors.New("no entrypoint")
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("-tag %s: %w", tag, err)
	}
	img, err := Image(spec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(path.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
