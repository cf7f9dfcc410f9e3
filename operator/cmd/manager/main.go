// Command manager runs the LEAP operator: it reconciles LeapTerms into the
// services that serve them.
package main

import (
	"flag"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/leap-dev/leap/operator/internal/builder"
	"github.com/leap-dev/leap/operator/internal/operator"
)

// version is the operator's version, stamped at build time with
// -ldflags "-X main.version=..."; the default component images follow it.
var version = "dev"

func main() {
	var o operator.Options
	var registry, imageTag, redisImage string
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", "address of the Prometheus metrics endpoint; 0 turns it off")
	flag.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve metrics over HTTPS to callers the API server authenticates and authorizes for GET /metrics; false serves plain HTTP to anyone")
	flag.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "", "directory of tls.crt and tls.key for the metrics endpoint; empty: a self-signed certificate")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	flag.BoolVar(&o.LeaderElect, "leader-elect", false, "elect one active operator among replicas")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election Lease; empty: the pod's own")
	flag.StringVar(&o.WatchNamespace, "watch-namespace", "", "reconcile LeapTerms of this namespace only; empty for all")
	flag.StringVar(&o.Instance, "instance", "", "name of this operator instance (the chart passes NAMESPACE/RELEASE): it reconciles the LeapTerms it claims and leaves those another instance claimed; empty claims none")
	flag.StringVar(&registry, "image-registry", "ghcr.io/leap-dev", "registry of the default component images")
	flag.StringVar(&imageTag, "image-tag", "", "tag of the default component images; empty for the operator's version")
	flag.StringVar(&redisImage, "redis-image", "", "default image of the Managed Redis; empty for the built-in default")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	if imageTag == "" {
		imageTag = version
	}
	o.Images = builder.DefaultImages(registry, imageTag)
	if redisImage != "" {
		o.Images.Redis = redisImage
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "no Kubernetes client configuration")
		os.Exit(1)
	}
	log.Info("starting operator", "version", version, "watchNamespace", o.WatchNamespace)
	if err := operator.Run(ctrl.SetupSignalHandler(), cfg, o); err != nil {
		log.Error(err, "operator stopped")
		os.Exit(1)
	}
}
