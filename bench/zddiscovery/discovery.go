// Command zddiscovery measures what a poller pays for watching a big
// cluster (see bench/README.md). It is apart from zdbench so that
// zdbench's own memory and CPU figures do not carry client-go.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/zerodown/zerodown/bench/internal/proc"
	"github.com/zerodown/zerodown/testtarget"
)

// runDiscovery measures what a poller pays for watching a big cluster:
// it fills the API server of $KUBECONFIG (make cluster-up) with Services
// and EndpointSlices that no annotation chooses (nothing is probed: no
// traffic leaves loopback), starts a poller, waits until it is ready, then
// churns EndpointSlices and reports the poller's memory and CPU.
func main() {
	if err := runDiscovery(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "zddiscovery:", err)
		os.Exit(1)
	}
}

func runDiscovery(args []string) error {
	fs := flag.NewFlagSet("zddiscovery", flag.ExitOnError)
	var (
		binary   = fs.String("binary", "bin/zerodown", "zerodown binary to run as the poller")
		services = fs.Int("services", 5000, "Services")
		slices   = fs.Int("slices", 4, "EndpointSlices per Service")
		churn    = fs.Int("churn", 50, "EndpointSlice updates per second while measuring")
		duration = fs.Duration("duration", 30*time.Second, "measured time")
		keep     = fs.Bool("keep", false, "keep the objects (a second run skips creating them)")
		gogc     = fs.String("gogc", "", "GOGC for the poller (e.g. 10, so that RSS follows the live heap)")
		heap     = fs.String("heapprofile", "", "write the poller's heap profile (its /debug/pprof/heap) here at the end")
		cpuprof  = fs.String("cpuprofile", "", "write the role's CPU profile over the churn (its /debug/pprof/profile) here")
		chosen   = fs.Int("chosen", 0, "of the Services, how many are annotated for DNS probing (headless, endpoint 127.0.0.1, asked of a loopback DNS server this command starts)")
		role     = fs.String("role", "poller", "the role to measure: poller, or controller (which probes nothing: its chosen Services' endpoints are recorded as intervals, into a temporary folder)")
	)
	_ = fs.Parse(args)
	kc := os.Getenv("KUBECONFIG")
	if kc == "" {
		return fmt.Errorf("KUBECONFIG is not set: start a control plane with make cluster-up and source its env.sh")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 500, 1000
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ns := fmt.Sprintf("zd-discovery-%d-%d-%d", *services, *slices, *chosen)
	if err := fill(ctx, kube, ns, *services, *slices, *chosen); err != nil {
		return err
	}
	if !*keep {
		defer func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) }()
	}

	// The cluster DNS the chosen Services are asked of: on loopback,
	// answering each chosen headless Service's endpoint addresses (data
	// only: nothing is sent to them).
	records := map[string][]string{}
	for i := range *chosen {
		var addrs []string
		for j := range *slices {
			for k := range 5 {
				addrs = append(addrs, chosenAddr(i, j, k))
			}
		}
		records[fmt.Sprintf("svc-%05d.%s.svc.cluster.local.", i, ns)] = addrs
	}
	dnsSrv, err := testtarget.Start(testtarget.Options{Zone: "cluster.local.", Records: records})
	if err != nil {
		return err
	}
	defer dnsSrv.Close()
	cmd := exec.Command(*binary, "poller", "--kubeconfig", kc, "--listen", "127.0.0.1:0", "--log.level", "warn", "--log.format", "logfmt",
		"--cluster-dns", dnsSrv.DNSAddr(), "--debug.pprof")
	var out string
	switch *role {
	case "poller":
	case "controller":
		if out, err = os.MkdirTemp("", "zddiscovery-controller-"); err != nil {
			return err
		}
		defer os.RemoveAll(out)
		cmd = exec.Command(*binary, "controller", "--kubeconfig", kc, "--listen", "127.0.0.1:0", "--log.level", "warn", "--log.format", "logfmt",
			"--leader-elect=false", "--builtin=false", "--out", out, "--debug.pprof")
	default:
		return fmt.Errorf("-role: want poller or controller, got %q", *role)
	}
	cmd.Env = append(os.Environ(), "NODE_NAME=")
	if *gogc != "" {
		cmd.Env = append(cmd.Env, "GOGC="+*gogc)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`addr=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil && strings.Contains(sc.Text(), "serving metrics") {
				addr <- m[1]
			}
		}
	}()
	// The poller logs at warn: ask the listen address through /proc instead.
	a, err := listenAddr(cmd.Process.Pid, addr)
	if err != nil {
		return err
	}
	for {
		resp, err := http.Get("http://" + a + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(started) > 5*time.Minute {
			return fmt.Errorf("%s not ready within 5 minutes", *role)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ready := time.Since(started)
	memReady := proc.MemoryOf(cmd.Process.Pid)
	cpu0 := proc.CPUOf(cmd.Process.Pid)

	profiled := make(chan error, 1)
	if *cpuprof != "" {
		go func() {
			profiled <- fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", a, int(duration.Seconds())), *cpuprof)
		}()
	} else {
		profiled <- nil
	}
	// Churn: update EndpointSlices round-robin at the given rate.
	tick := time.NewTicker(time.Second / time.Duration(max(*churn, 1)))
	defer tick.Stop()
	end := time.Now().Add(*duration)
	updates := 0
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		if *churn == 0 {
			continue
		}
		name := fmt.Sprintf("svc-%05d-%d", i%*services, (i / *services)%*slices)
		es, err := kube.DiscoveryV1().EndpointSlices(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			continue
		}
		isReady := len(es.Endpoints) > 0 && es.Endpoints[0].Conditions.Ready != nil && *es.Endpoints[0].Conditions.Ready
		flip := !isReady
		es.Endpoints[0].Conditions.Ready = &flip
		if _, err := kube.DiscoveryV1().EndpointSlices(ns).Update(ctx, es, metav1.UpdateOptions{}); err == nil {
			updates++
		}
	}
	cpu := proc.CPUOf(cmd.Process.Pid) - cpu0
	if err := <-profiled; err != nil {
		return err
	}
	if *heap != "" {
		if err := fetch("http://"+a+"/debug/pprof/heap", *heap); err != nil {
			return err
		}
	}
	mem := proc.MemoryOf(cmd.Process.Pid)
	okN, failN := probeCounts(a)
	if *role == "controller" {
		fmt.Printf("discovery: %d Services (%d chosen: their endpoints recorded), %d EndpointSlices; controller ready in %s\n", *services, *chosen, *services**slices, ready.Round(time.Millisecond))
		if fi, err := os.Stat(filepath.Join(out, "intervals.jsonl")); err == nil {
			fmt.Printf("  intervals.jsonl: %.1f KiB\n", float64(fi.Size())/1024)
		}
	} else {
		fmt.Printf("discovery: %d Services (%d chosen: DNS probed at 1/s), %d EndpointSlices; poller ready in %s\n", *services, *chosen, *services**slices, ready.Round(time.Millisecond))
	}
	if *chosen > 0 && *role == "poller" {
		fmt.Printf("  probes since the start: %.0f answered, %.0f failed\n", okN, failN)
	}
	if *gogc != "" {
		fmt.Printf("  (%s run with GOGC=%s)\n", *role, *gogc)
	}
	fmt.Printf("  ready: RSS %.1f MiB (anonymous %.1f, file-backed %.1f)\n", memReady.RSS, memReady.Anon, memReady.File)
	fmt.Printf("  after %d EndpointSlice updates in %s (%.0f/s): RSS %.1f MiB (anonymous %.1f, file-backed %.1f), CPU %.1f%% of a core\n",
		updates, *duration, float64(updates)/duration.Seconds(), mem.RSS, mem.Anon, mem.File, 100*cpu/duration.Seconds())
	return nil
}

// fill creates the namespace's Services and EndpointSlices unless they are
// there already, each with a kubectl last-applied annotation as a real
// cluster's have.
func fill(ctx context.Context, kube kubernetes.Interface, ns string, services, slices, chosen int) error {
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	have, err := kube.CoreV1().Services(ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err == nil && len(have.Items) > 0 {
		fmt.Println("discovery: objects already there (-keep); not creating them")
		return nil
	}
	start := time.Now()
	ready := true
	work := make(chan int)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			for i := range work {
				name := fmt.Sprintf("svc-%05d", i)
				applied := fmt.Sprintf(`{"apiVersion":"v1","kind":"Service","metadata":{"name":%q,"namespace":%q},"spec":{"clusterIP":"None","ports":[{"name":"http","port":8080}]}}`, name, ns)
				svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": applied}},
					Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 8080}}}}
				if i < chosen {
					// Probed by name only (no SRV: the port is unnamed).
					svc.Annotations["zerodown.io/probe"] = "dns"
					svc.Spec.Ports[0].Name = ""
				}
				if _, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					errs <- err
					continue
				}
				for j := range slices {
					port, proto := int32(8080), corev1.ProtocolTCP
					pname := "http"
					es := &discoveryv1.EndpointSlice{
						ObjectMeta:  metav1.ObjectMeta{Name: name + "-" + strconv.Itoa(j), Labels: map[string]string{discoveryv1.LabelServiceName: name}},
						AddressType: discoveryv1.AddressTypeIPv4,
						Ports:       []discoveryv1.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}},
					}
					for k := range 5 {
						// As the EndpointSlice controller writes them.
						pod := fmt.Sprintf("%s-%d-%08x", name, j, uint32(i*7919+k))
						node, zone := fmt.Sprintf("worker-%03d.example.internal", (i+k)%150), fmt.Sprintf("zone-%c", 'a'+byte(k%3))
						addr := chosenAddr(i, j, k)
						es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
							Addresses:  []string{addr},
							Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &ready, Terminating: new(bool)},
							TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod, UID: types.UID(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, j*5+k))},
							NodeName:   &node,
							Zone:       &zone,
						})
					}
					if _, err := kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
						errs <- err
					}
				}
			}
		}()
	}
	for i := range services {
		select {
		case err := <-errs:
			close(work)
			return err
		case work <- i:
		}
		if i%1000 == 999 {
			fmt.Printf("discovery: %d Services created (%s)\n", i+1, time.Since(start).Round(time.Second))
		}
	}
	close(work)
	fmt.Printf("discovery: %d Services and %d EndpointSlices created in %s\n", services, services*slices, time.Since(start).Round(time.Second))
	return nil
}

// listenAddr finds the poller's metrics address: from its log, or the TCP
// socket it listens on (/proc/net/tcp and its fds).
func listenAddr(pid int, fromLog <-chan string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case a := <-fromLog:
			return a, nil
		default:
		}
		if a := listeningPort(pid); a != "" {
			return a, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("poller not listening within 30s")
}

func listeningPort(pid int) string {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
			continue
		}
		hp := strings.Split(f[1], ":")
		port, _ := strconv.ParseUint(hp[1], 16, 16)
		return fmt.Sprintf("127.0.0.1:%d", port)
	}
	return ""
}

// fetch writes what url answers to path.
func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

// chosenAddr is the address of endpoint k of slice j of Service i.
func chosenAddr(i, j, k int) string { return fmt.Sprintf("10.%d.%d.%d", j, (i>>8)&255, (i+k)&255) }

// probeCounts sums the poller's answered and failed probes.
func probeCounts(addr string) (ok, failed float64) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "zerodown_probe_requests_total{") {
			continue
		}
		v, _ := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
		if strings.Contains(l, `result="success"`) {
			ok += v
		} else {
			failed += v
		}
	}
	return ok, failed
}
