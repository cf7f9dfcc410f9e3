// Command manager runs the LEAP operator: it reconciles LeapTerms into the
// services that serve them.
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/operator/internal/builder"
	"github.com/leap-dev/leap/operator/internal/controller"
)

// version is the operator's version, stamped at build time; the default
// component images follow it.
var version = "dev"

func main() {
	var (
		metricsAddr    = flag.String("metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 turns it off")
		probeAddr      = flag.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
		leaderElect    = flag.Bool("leader-elect", false, "elect one active operator among replicas")
		watchNamespace = flag.String("watch-namespace", "", "reconcile LeapTerms of this namespace only; empty for all")
		registry       = flag.String("image-registry", "ghcr.io/leap-dev", "registry of the default component images")
		imageTag       = flag.String("image-tag", "", "tag of the default component images; empty for the operator's version")
		redisImage     = flag.String("redis-image", "", "default image of the Managed Redis; empty for the built-in default")
	)
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	if err := run(*metricsAddr, *probeAddr, *leaderElect, *watchNamespace, *registry, *imageTag, *redisImage); err != nil {
		log.Error(err, "operator stopped")
		os.Exit(1)
	}
}

func run(metricsAddr, probeAddr string, leaderElect bool, watchNamespace, registry, imageTag, redisImage string) error {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))

	cacheOpts := controller.CacheOptions()
	if watchNamespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{watchNamespace: {}}
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes client configuration: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "leap-operator.leap.dev",
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}

	if imageTag == "" {
		imageTag = version
	}
	images := builder.DefaultImages(registry, imageTag)
	if redisImage != "" {
		images.Redis = redisImage
	}
	r := &controller.LeapTermReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("leap-operator"),
		Clock:    clock.RealClock{},
		Images:   images,
		Random:   rand.Reader,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting operator", "version", version, "watchNamespace", watchNamespace)
	return mgr.Start(ctrl.SetupSignalHandler())
}
