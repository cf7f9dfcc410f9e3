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

	build "github.com/leap-dev/leap/operator/internal/builder"
)

// TestSecretCacheHoldsOnlyTheOperatorsSecrets: the operator's cache (the
// manager's, with CacheOptions) watches and holds the Secrets it made and no
// other: a cluster's other Secrets (a university's OIDC client secret, a
// Redis password, kube-system's) never reach its memory. The operator reads
// no Secret it did not make; the pods read those by reference.
func TestSecretCacheHoldsOnlyTheOperatorsSecrets(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	theirs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "oidc-client"}, StringData: map[string]string{"client-secret": "s3cret"}}
	g.Expect(k8s.Create(ctx, theirs)).To(Succeed())
	term := reconciled(g, createTerm(t, ns, "cache", typicalSpec))
	ours := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: build.NamesOf(term).IngestTokens()}}

	g.Eventually(func() error { return mgrClient.Get(ctx, client.ObjectKeyFromObject(ours), &corev1.Secret{}) }).
		WithTimeout(10 * time.Second).Should(Succeed())
	get(g, ours)
	g.Expect(ours.Labels).To(HaveKeyWithValue(build.LabelManagedBy, build.ManagedBy))

	g.Consistently(func(g Gomega) {
		err := mgrClient.Get(ctx, client.ObjectKeyFromObject(theirs), &corev1.Secret{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the operator's cache holds a Secret it did not make: %v", err)
		list := &corev1.SecretList{}
		g.Expect(mgrClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		for _, s := range list.Items {
			g.Expect(s.Labels).To(HaveKeyWithValue(build.LabelManagedBy, build.ManagedBy), s.Name)
		}
	}).WithTimeout(time.Second).Should(Succeed())
	get(g, theirs) // it is there, for whoever may read it
}
