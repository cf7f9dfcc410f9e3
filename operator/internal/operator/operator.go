// Package operator assembles the manager: the LeapTerm controller, its
// caches, probes, metrics and leader election. cmd/manager runs it in a
// cluster; cmd/devcluster runs it against a local API server.
package operator

import (
	"context"
	"crypto/rand"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/leap-dev/leap/operator/internal/builder"
	"github.com/leap-dev/leap/operator/internal/controller"
	"github.com/leap-dev/leap/operator/internal/scheme"
)

// Options configure the operator.
type Options struct {
	MetricsAddr string // "0" turns metrics off
	ProbeAddr   string // "0" turns probes off
	LeaderElect bool
	// LeaderElectionNamespace holds the Lease; empty: the pod's namespace,
	// which an operator run outside a pod must be given.
	LeaderElectionNamespace string
	WatchNamespace          string // empty: all namespaces
	// Instance names this operator among others on the cluster (the chart
	// passes NAMESPACE/RELEASE); empty claims no LeapTerm.
	Instance string
	Images   builder.Images
}

// Run runs the operator until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	cacheOpts := controller.CacheOptions()
	if o.WatchNamespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{o.WatchNamespace: {}}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              "leap-operator.leap.dev",
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	r := &controller.LeapTermReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("leap-operator"),
		Clock:    clock.RealClock{},
		Images:   o.Images,
		Random:   rand.Reader,
		Instance: o.Instance,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up controller: %w", err)
	}
	if err := metrics.Registry.Register(controller.ReadyCollector{Client: mgr.GetCache()}); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if err := metrics.Registry.Register(controller.NotificationsCollector{Client: mgr.GetCache()}); err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
