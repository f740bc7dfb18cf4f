// Command sampleapp is the application the e2e cluster upgrades: an HTTP
// server that answers every path with its version ($VERSION, set per
// image), healthy on /healthz, or failing both when $FAIL is set (the
// bad rollout). It ends on SIGTERM at once, as an application without a
// preStop hook does.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	version, fail := os.Getenv("VERSION"), os.Getenv("FAIL") != ""
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = ":8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		if fail {
			http.Error(w, version+" is broken\n", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Version", version)
		fmt.Fprintln(w, version)
	})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		os.Exit(0)
	}()
	log.Printf("sampleapp %s listening on %s", version, addr)
	log.Fatal(http.ListenAndServe(addr, nil))
}
