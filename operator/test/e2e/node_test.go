package e2e

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	"github.com/leap-dev/leap/operator/internal/cluster"
	"github.com/leap-dev/leap/operator/internal/controller"
)

// TestNodeStaysReadyPastTheGracePeriod waits until the fake node has lived
// twice kube-controller-manager's node grace period: its Lease is renewed,
// the node is still Ready, and so is every pod on it and every LeapTerm. A
// node without a heartbeat is marked not ready after the grace period, and
// every pod with it, which a long `make run-cluster` session would meet.
func TestNodeStaysReadyPastTheGracePeriod(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	requireOperator(t)
	node := &corev1.Node{}
	g.Expect(env.k8s.Get(ctx, types.NamespacedName{Name: cluster.NodeName}, node)).To(Succeed())
	// Past the grace period twice over, and a look of the node lifecycle
	// controller on each side of it.
	until := node.CreationTimestamp.Add(2*cluster.NodeMonitorGracePeriod + 2*cluster.NodeMonitorPeriod)
	if d := time.Until(until); d > 0 {
		t.Logf("waiting %s, past twice the node grace period (%s)", d.Round(time.Millisecond), cluster.NodeMonitorGracePeriod)
		time.Sleep(d)
	}

	lease := &coordinationv1.Lease{}
	g.Expect(env.k8s.Get(ctx, types.NamespacedName{Namespace: corev1.NamespaceNodeLease, Name: cluster.NodeName}, lease)).
		To(Succeed(), "kwok keeps the node's Lease")
	g.Expect(lease.Spec.RenewTime).NotTo(BeNil())
	g.Expect(time.Since(lease.Spec.RenewTime.Time)).To(BeNumerically("<", cluster.NodeMonitorGracePeriod), "the Lease is renewed")

	g.Expect(env.k8s.Get(ctx, types.NamespacedName{Name: cluster.NodeName}, node)).To(Succeed())
	t.Logf("node %s is %s old", node.Name, time.Since(node.CreationTimestamp.Time).Round(time.Second))
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			g.Expect(c.Status).To(Equal(corev1.ConditionTrue), "node Ready: %s %s", c.Reason, c.Message)
		}
	}
	g.Expect(node.Spec.Taints).NotTo(ContainElement(HaveField("Key", corev1.TaintNodeUnreachable)), "the node is not tainted unreachable")

	pods := &corev1.PodList{}
	g.Expect(env.k8s.List(ctx, pods, client.InNamespace(samplesNamespace))).To(Succeed())
	g.Expect(pods.Items).NotTo(BeEmpty())
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				g.Expect(c.Status).To(Equal(corev1.ConditionTrue), "pod %s Ready: %s %s", p.Name, c.Reason, c.Message)
			}
		}
	}
	terms := &v1alpha1.LeapTermList{}
	g.Expect(env.k8s.List(ctx, terms, client.InNamespace(samplesNamespace))).To(Succeed())
	g.Expect(terms.Items).NotTo(BeEmpty())
	for _, term := range terms.Items {
		g.Expect(condition(getTerm(t, term.Name), controller.ConditionReady)).To(Equal(metav1.ConditionTrue), term.Name)
	}
}
