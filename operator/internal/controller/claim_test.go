package controller

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// TestLeapTermClaimedByAnotherOperatorIsLeftAlone: a LeapTerm that another
// operator instance has claimed (a second release of the chart watching the
// same namespace) gets nothing from this one, neither children nor status;
// once the claim is removed, this instance claims it and serves it.
func TestLeapTermClaimedByAnotherOperatorIsLeftAlone(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	term := &v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{
		Name: "theirs", Namespace: ns, Annotations: map[string]string{v1alpha1.OperatorAnnotation: "tenant-b/leap"},
	}}
	created := createTerm(t, ns, "mine", typicalSpec)
	term.Spec = created.Spec
	g.Expect(k8s.Create(ctx, term)).To(Succeed())

	// The other LeapTerm of the namespace is claimed and served: the
	// operator has had its chance at this one too.
	created = reconciled(g, created)
	g.Expect(created.Annotations).To(HaveKeyWithValue(v1alpha1.OperatorAnnotation, testInstance))
	g.Consistently(func(g Gomega) {
		get(g, term)
		g.Expect(term.Status.Conditions).To(BeEmpty(), "status written for another operator's LeapTerm")
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: build.NamesOf(term).PolicyConfigMap()}, &corev1.ConfigMap{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a child made for another operator's LeapTerm")
	}).WithTimeout(2 * time.Second).Should(Succeed())

	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { delete(t.Annotations, v1alpha1.OperatorAnnotation) })
	term = reconciled(g, term)
	g.Expect(term.Annotations).To(HaveKeyWithValue(v1alpha1.OperatorAnnotation, testInstance))
}
