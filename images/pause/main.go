// Command pause is the pod sandbox's process, as registry.k8s.io/pause:
// it holds the pod's namespaces, reaps nothing and ends on SIGINT or
// SIGTERM. The nodes of the e2e cluster run it under the pause image's
// name, so no image is pulled.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
