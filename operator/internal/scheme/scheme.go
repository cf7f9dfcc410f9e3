// Package scheme builds the runtime scheme of the operator: the built-in
// kinds and LeapTerm.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// New returns a scheme that knows the built-in kinds and LeapTerm.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}
