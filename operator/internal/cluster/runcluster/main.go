// Command runcluster starts the e2e cluster (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok's fake node) for a person
// with kubectl, prints its KUBECONFIG and runs until Ctrl-C. `make run-cluster`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/leap-dev/leap/operator/internal/cluster"
)

func main() { os.Exit(run()) }

func run() int {
	assets := flag.String("assets", "bin/k8s/1.37.2", "folder of etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := cluster.Start(ctx, cluster.Options{Assets: *assets, Log: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "run-cluster:", err)
		return 1
	}
	fmt.Printf("\nThe cluster runs (one fake node, %q, played by kwok). In another shell:\n\n", cluster.NodeName)
	fmt.Printf("  export KUBECONFIG=%s\n  %s/kubectl get nodes,pods -A\n\n", c.Kubeconfig, *assets)
	fmt.Printf("Logs of each process are in %s. Ctrl-C stops it and removes that folder.\n", c.Dir)
	<-ctx.Done()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "run-cluster:", err)
		return 1
	}
	return 0
}
