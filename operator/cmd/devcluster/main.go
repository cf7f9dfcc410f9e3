// Command devcluster runs the operator on one machine for a person to look
// around: it starts the test API server (kube-apiserver and etcd built by
// `make envtest`), installs the CRD, applies a sample LeapTerm, runs the
// operator against it and prints a KUBECONFIG. Ctrl-C stops everything.
//
// The local API server has no controllers and no nodes: Deployments are
// created but never roll out, so the LeapTerm stays Ready=False. Everything
// the operator writes can be inspected with kubectl.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/internal/builder"
	"github.com/leap-dev/leap/operator/internal/operator"
	"github.com/leap-dev/leap/operator/internal/scheme"
	"github.com/leap-dev/leap/operator/internal/testenv"
)

func main() {
	assets := flag.String("assets", "", "folder of kube-apiserver and etcd (make envtest)")
	crds := flag.String("crd", "config/crd/bases", "folder of the CRDs to install")
	sample := flag.String("sample", "config/samples/leap_v1alpha1_leapterm_typical.yaml", "LeapTerm to apply")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	if err := run(*assets, *crds, *sample); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(assets, crds, sample string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{crds},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme.New(),
	}
	testenv.WidenServiceRange(env)
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start local API server: %w", err)
	}
	defer func() { _ = env.Stop() }()

	user, err := env.AddUser(envtest.User{Name: "developer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "leap-devcluster-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		return err
	}

	ns, name, err := applySample(ctx, cfg, sample)
	if err != nil {
		return err
	}
	fmt.Printf(`
LEAP operator running against a local API server.

  export KUBECONFIG=%[1]s
  kubectl get leapterms -A
  kubectl -n %[2]s describe leapterm %[3]s
  kubectl -n %[2]s get configmaps,secrets,deployments,statefulsets,services,ingresses,networkpolicies,pdb
  kubectl -n %[2]s patch leapterm %[3]s --type merge -p '{"spec":{"attendance":{"enabled":false}}}'

There are no nodes or workload controllers here: Deployments never roll out,
so Ready stays False. Ctrl-C stops the operator and the API server.

`, kubeconfigPath, ns, name)

	return operator.Run(ctx, cfg, operator.Options{
		MetricsAddr: "0",
		ProbeAddr:   "0",
		Images:      builder.DefaultImages("ghcr.io/leap-dev", "dev"),
	})
}

// applySample creates the sample's namespace and the sample LeapTerm.
func applySample(ctx context.Context, cfg *rest.Config, path string) (string, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &obj.Object); err != nil {
		return "", "", fmt.Errorf("read %s: %w", path, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return "", "", err
	}
	ns := obj.GetNamespace()
	if ns == "" {
		ns = "default"
		obj.SetNamespace(ns)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", "", fmt.Errorf("create namespace %s: %w", ns, err)
	}
	if err := c.Create(ctx, obj); err != nil {
		return "", "", fmt.Errorf("apply %s: %w", path, err)
	}
	return ns, obj.GetName(), nil
}
