package kubecli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/zerodown/zerodown/collectors"
	"github.com/zerodown/zerodown/internal/cli"
	"github.com/zerodown/zerodown/internal/kube"
)

const markUsage = `Usage: zerodown mark start|end NAME [flags]

Marks an upgrade the cluster's versions do not show (an ingress controller,
a service mesh, a database operator) so that zerodown counts it as one: the
controller and watch --kubeconfig export it as zerodown_upgrade_in_progress
{name="NAME"}, the upgrade rules and budgets measure the disruption during
it, and the report shows it as an Upgrade lane.

The mark is a ConfigMap zerodown-upgrade-NAME in --namespace, labelled
zerodown.io/upgrade=NAME, with the times in its annotations
zerodown.io/upgrade-start and zerodown.io/upgrade-end (RFC 3339) and the
version in zerodown.io/upgrade-version: kubectl can write it too. It needs
create, get and update on configmaps in that namespace.

Examples:
  zerodown mark start ingress-nginx --version 1.12.0
  helm upgrade ingress-nginx ...
  zerodown mark end ingress-nginx

Flags:
`

// defaultMarkerNamespace is where marks are written and, by watch, read:
// the namespace deploy/ installs zerodown in.
const defaultMarkerNamespace = "zerodown"

func runMark(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mark", flag.ContinueOnError)
	var (
		kubeconfig = fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the in-cluster service account)")
		namespace  = fs.String("namespace", defaultMarkerNamespace, "namespace of the marks: the controller's (its --leader-elect.namespace; watch --kubeconfig reads zerodown)")
		ver        = fs.String("version", "", "start: the version being installed, the version label of the upgrade's metrics (default: NAME)")
		at         = fs.String("at", "", "the time of the mark, RFC 3339 (default: now)")
	)
	fs.Usage = func() { fmt.Fprint(fs.Output(), markUsage); fs.PrintDefaults() }
	pos, code, ok := cli.ParseInterspersed(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 2 || pos[0] != "start" && pos[0] != "end" {
		fmt.Fprintf(stderr, "zerodown mark: want start|end NAME, got %q (zerodown mark -h: the flags and examples)\n", strings.Join(pos, " "))
		return cli.ExitUsage
	}
	verb, name := pos[0], pos[1]
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		fmt.Fprintf(stderr, "zerodown mark: NAME %q: %s\n", name, strings.Join(errs, "; "))
		return cli.ExitUsage
	}
	if collectors.ReservedUpgradeName(name) {
		fmt.Fprintf(stderr, "zerodown mark: NAME %q is reserved: the upgrades read from the Kubernetes versions and the ClusterVersion are named so\n", name)
		return cli.ExitUsage
	}
	if verb == "end" && *ver != "" {
		fmt.Fprintln(stderr, "zerodown mark: --version goes with start")
		return cli.ExitUsage
	}
	when := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339Nano, *at)
		if err != nil {
			fmt.Fprintf(stderr, "zerodown mark: --at %q: want an RFC 3339 time (2026-12-07T10:00:00Z)\n", *at)
			return cli.ExitUsage
		}
		// A mark of the future would count the upgrade as running now.
		if t.After(when.Add(time.Minute)) {
			fmt.Fprintf(stderr, "zerodown mark: --at %s is in the future: mark when it happens\n", *at)
			return cli.ExitUsage
		}
		when = t
	}
	rc, err := kube.RESTConfig(*kubeconfig, "zerodown-mark")
	if err != nil {
		fmt.Fprintln(stderr, "zerodown mark:", err)
		return cli.ExitFailure
	}
	kc, err := kube.NewClient(rc)
	if err != nil {
		fmt.Fprintln(stderr, "zerodown mark:", err)
		return cli.ExitFailure
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg, err := mark(ctx, kc.ConfigMaps(*namespace), verb, name, *ver, when)
	if err != nil {
		fmt.Fprintf(stderr, "zerodown mark %s %s: %v\n", verb, name, err)
		return cli.ExitFailure
	}
	fmt.Fprintln(stdout, msg)
	return cli.ExitOK
}

// mark writes the start or the end of the upgrade name into its ConfigMap.
func mark(ctx context.Context, cms *kube.Resource[*corev1.ConfigMap, *corev1.ConfigMapList], verb, name, ver string, when time.Time) (string, error) {
	cmName := collectors.MarkerNamePrefix + name
	stamp := when.UTC().Format(time.RFC3339Nano)
	cm, err := cms.Get(ctx, cmName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && verb == "end":
		return "", fmt.Errorf("no mark %s in this namespace: mark its start first", cmName)
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cmName}}
	case err != nil:
		return "", err
	}
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Labels[collectors.MarkerLabel] = name
	if verb == "start" {
		cm.Annotations[collectors.MarkerStart] = stamp
		delete(cm.Annotations, collectors.MarkerEnd)
		delete(cm.Annotations, collectors.MarkerVersion)
		if ver != "" {
			cm.Annotations[collectors.MarkerVersion] = ver
		}
	} else {
		m, perr := collectors.ParseMarker(cm)
		if perr != nil {
			return "", perr
		}
		if !when.After(m.Start) {
			return "", fmt.Errorf("the end (%s) is not after the start (%s)", stamp, m.Start.UTC().Format(time.RFC3339Nano))
		}
		cm.Annotations[collectors.MarkerEnd] = stamp
	}
	var out *corev1.ConfigMap
	if cm.ResourceVersion == "" {
		out, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	} else {
		out, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("marked the %s of upgrade %s at %s (ConfigMap %s/%s)", verb, name, stamp, out.Namespace, out.Name), nil
}
