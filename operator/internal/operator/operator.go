// Package operator assembles the manager: the LeapTerm controller, its
// caches, probes, metrics and leader election. cmd/manager runs it in a
// cluster; cmd/devcluster runs it against a local API server.
package operator

import (
	"context"
	"crypto/rand"
	"crypto/tls"
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
	// MetricsSecure serves metrics over HTTPS to callers whose bearer token
	// the API server authenticates (TokenReview) and authorizes to get the
	// non-resource URL /metrics (SubjectAccessReview), as the kubebuilder
	// scaffold does. Without a certificate given, controller-runtime makes
	// a self-signed one at start.
	MetricsSecure bool
	// MetricsCertDir holds tls.crt and tls.key for the metrics server;
	// empty: the self-signed certificate.
	MetricsCertDir string
	ProbeAddr      string // "0" turns probes off
	LeaderElect    bool
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
	metricsOpts := metricsserver.Options{
		BindAddress: o.MetricsAddr,
		// HTTP/2 is off, as in the kubebuilder scaffold: its stream
		// handling has had denial-of-service flaws (CVE-2023-44487), and a
		// scrape needs nothing of it.
		TLSOpts: []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	if o.MetricsSecure {
		metricsOpts.SecureServing = true
		metricsOpts.FilterProvider = metricsAuth
		metricsOpts.CertDir = o.MetricsCertDir
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Cache:                         cacheOpts,
		Metrics:                       metricsOpts,
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
	if err := metrics.Registry.Register(controller.ConditionCollector{Client: mgr.GetCache()}); err != nil {
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
