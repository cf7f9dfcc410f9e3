package charttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/internal/scheme"
	"github.com/leap-dev/leap/operator/internal/testenv"
)

// The release every test renders: its name and namespace.
const (
	releaseName      = "leap"
	releaseNamespace = "leap-system"
)

var (
	// k8s talks to the test API server; warnings it receives go to the
	// collector in the request's context (see withWarnings).
	k8s client.Client
	// restConfig reaches the test API server as its administrator.
	restConfig *rest.Config
	// helmBin is the helm the tests run; helmEnv isolates its config, cache
	// and data from the user's, and points it at the test API server.
	helmBin string
	helmEnv []string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	var err error
	if helmBin, err = findHelm(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	home, err := os.MkdirTemp("", "charttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(home) }()

	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	restConfig = env.Config
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandlerWithContext = warningCollector{}
	if k8s, err = client.New(cfg, client.Options{Scheme: newScheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	kubeconfig := filepath.Join(home, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	helmEnv = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+kubeconfig,
	)
	// The ServiceMonitor's CRD is not part of the API server: install the
	// subset of it that the chart may use.
	if err := installCRD(filepath.Join("testdata", "servicemonitor-crd.yaml")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// findHelm is $HELM, else the one helm of bin/tools.
func findHelm() (string, error) {
	if h := os.Getenv("HELM"); h != "" {
		if _, err := os.Stat(h); err != nil {
			return "", fmt.Errorf("HELM=%s: %w: run `make helm`", h, err)
		}
		return h, nil
	}
	found, err := filepath.Glob(filepath.Join(testenv.Root(), "bin", "tools", "helm-v*"))
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", errors.New("helm is missing: run `make helm`, or the tests through `make test` or `make chart-test`")
	default:
		return "", fmt.Errorf("several helm builds %v: set HELM to one, or run the tests through make", found)
	}
}

func newScheme() *runtime.Scheme {
	s := scheme.New()
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	return s
}

// writeKubeconfig writes a kubeconfig of cfg for helm.
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	return clientcmd.WriteToFile(*kc, path)
}

// installCRD creates the CRD of file and waits until it is served.
func installCRD(file string) error {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := readYAML(file, crd); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k8s.Create(ctx, crd); err != nil {
		return fmt.Errorf("install %s: %w", file, err)
	}
	return wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(crd), crd); err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// warningCollector hands the API server's warnings to the warnings
// collector of the request's context.
type warningCollector struct{}

type warningsKey struct{}

type warnings struct {
	mu   sync.Mutex
	list []string
}

func (warningCollector) HandleWarningHeaderWithContext(ctx context.Context, _ int, _, message string) {
	if w, ok := ctx.Value(warningsKey{}).(*warnings); ok {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.list = append(w.list, message)
	}
}

// withWarnings returns a context whose requests' warnings are collected.
func withWarnings(ctx context.Context) (context.Context, *warnings) {
	w := &warnings{}
	return context.WithValue(ctx, warningsKey{}, w), w
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.list...)
}
