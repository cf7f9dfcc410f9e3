// Package testenv starts the real Kubernetes API server the tests run
// against: kube-apiserver and etcd built from Go modules by `make envtest`
// (hack/build-envtest.sh), with the LeapTerm CRD installed.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/leap-dev/leap/operator/internal/scheme"
)

// K8sVersion is the version of the control plane the tests run against.
const K8sVersion = "1.37.2"

// Root is the repository's top folder.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Scheme knows the built-in kinds and LeapTerm.
func Scheme() *kruntime.Scheme { return scheme.New() }

// Codecs decode objects of Scheme.
func Codecs() serializer.CodecFactory { return serializer.NewCodecFactory(Scheme()) }

// Env is a running control plane.
type Env struct {
	env    *envtest.Environment
	Config *rest.Config
}

// Start runs kube-apiserver and etcd with the CRDs of config/crd/bases. It
// fails, never skips, when the binaries are missing: `make test` builds them.
func Start() (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(Root(), "bin", "k8s", K8sVersion)
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("the test control plane is missing (%w): run `make envtest`, or the tests through `make test`", err)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}
	WidenServiceRange(env)
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start test control plane from %s: %w", assets, err)
	}
	return &Env{env: env, Config: cfg}, nil
}

// Stop ends the control plane.
func (e *Env) Stop() error { return e.env.Stop() }

// WidenServiceRange gives the API server a /16 of Service addresses instead
// of envtest's /24, which 50 LeapTerms (four Services each) and the other
// tests' would exhaust.
func WidenServiceRange(env *envtest.Environment) {
	env.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
}
