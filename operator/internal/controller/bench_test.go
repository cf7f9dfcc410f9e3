package controller

import (
	"context"
	"fmt"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// The benchmarks report each figure beside a baseline measured in the same
// run on the same API server, because the machines are shared and noisy:
// read the ratios.

const benchTerms = 50

// BenchmarkFiftyLeapTermsToReady creates 50 LeapTerms in 50 namespaces and
// waits until every one is Ready, with the test playing the Deployment and
// StatefulSet controllers the test API server lacks. The baseline is the
// least any operator must do for the same result: server-side apply of the
// same desired objects, straight from the builders, one after another.
func BenchmarkFiftyLeapTermsToReady(b *testing.B) {
	g := NewWithT(b)
	ctx := context.Background()
	var operator, baseline time.Duration
	var peak uint64
	for range b.N {
		baseline += applyBaseline(b, g)

		namespaces := make([]string, benchTerms)
		for i := range namespaces {
			namespaces[i] = newNamespace(b)
		}
		stopSampling := sampleHeap(&peak)
		stopRollout := playWorkloadControllers(namespaces)
		start := time.Now()
		for i, ns := range namespaces {
			createTerm(b, ns, fmt.Sprintf("y%d", i), typicalSpec)
		}
		g.Eventually(func(g Gomega) {
			list := &v1alpha1.LeapTermList{}
			g.Expect(k8s.List(ctx, list)).To(Succeed())
			ready := 0
			for i := range list.Items {
				for _, c := range list.Items[i].Status.Conditions {
					if c.Type == ConditionReady && c.Status == metav1.ConditionTrue && slices.Contains(namespaces, list.Items[i].Namespace) {
						ready++
					}
				}
			}
			g.Expect(ready).To(Equal(benchTerms))
		}).WithTimeout(3 * time.Minute).WithPolling(50 * time.Millisecond).Should(Succeed())
		operator += time.Since(start)
		stopRollout()
		stopSampling()
	}
	b.ReportMetric(operator.Seconds()/float64(b.N), "s-to-ready")
	b.ReportMetric(baseline.Seconds()/float64(b.N), "s-baseline-apply")
	b.ReportMetric(operator.Seconds()/baseline.Seconds(), "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// applyBaseline applies the desired objects of 50 LeapTerms directly.
func applyBaseline(b *testing.B, g Gomega) time.Duration {
	ctx := context.Background()
	start := time.Now()
	for i := range benchTerms {
		ns := newNamespace(b)
		term := defaultedTerm(g, typicalSpec)
		term.Namespace, term.Name, term.UID = ns, fmt.Sprintf("base%d", i), "00000000-0000-0000-0000-000000000000"
		encoded, hash, err := build.PolicyDocument(term)
		g.Expect(err).NotTo(HaveOccurred())
		opts := []client.ApplyOption{client.FieldOwner("baseline"), client.ForceOwnership}
		g.Expect(k8s.Apply(ctx, build.PolicyConfigMap(term, encoded), opts...)).To(Succeed())
		g.Expect(k8s.Apply(ctx, build.RedisStatefulSet(term, images), opts...)).To(Succeed())
		g.Expect(k8s.Apply(ctx, build.Service(term, build.Redis), opts...)).To(Succeed())
		g.Expect(k8s.Apply(ctx, build.RedisNetworkPolicy(term), opts...)).To(Succeed())
		g.Expect(k8s.Apply(ctx, build.PortalServiceAccount(term), opts...)).To(Succeed())
		g.Expect(k8s.Apply(ctx, build.PortalRole(term), opts...)).To(Succeed())
		g.Expect(k8s.Apply(ctx, build.PortalRoleBinding(term), opts...)).To(Succeed())
		for _, c := range build.Services {
			g.Expect(k8s.Apply(ctx, build.ServiceDeployment(term, c, images, hash), opts...)).To(Succeed())
			g.Expect(k8s.Apply(ctx, build.Service(term, c), opts...)).To(Succeed())
			g.Expect(k8s.Apply(ctx, build.PodDisruptionBudget(term, c), opts...)).To(Succeed())
		}
	}
	return time.Since(start)
}

// BenchmarkPolicyPropagation flips attendance on a ready LeapTerm and times
// until the ConfigMap and every Deployment template carry the new policy.
// The baseline is one ConfigMap update read back through the API server.
func BenchmarkPolicyPropagation(b *testing.B) {
	g := NewWithT(b)
	ctx := context.Background()
	ns := newNamespace(b)
	term := reconciled(g, createTerm(b, ns, "flip", typicalSpec))
	n := build.NamesOf(term)
	probe := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "probe"}, Data: map[string]string{"v": "0"}}
	g.Expect(k8s.Create(ctx, probe)).To(Succeed())

	var propagation, baseline time.Duration
	for i := range b.N {
		start := time.Now()
		probe.Data["v"] = fmt.Sprint(i + 1)
		g.Expect(k8s.Update(ctx, probe)).To(Succeed())
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(probe), probe)).To(Succeed())
		baseline += time.Since(start)

		enabled := i%2 == 1
		start = time.Now()
		updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Attendance.Enabled = ptr.To(enabled) })
		g.Eventually(func(g Gomega) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n.PolicyConfigMap()}}
			get(g, cm)
			hash := policyHashOf(cm)
			for _, d := range deployments(g, term) {
				g.Expect(d.Spec.Template.Annotations[build.AnnotationPolicyHash]).To(Equal(hash))
			}
			g.Expect(cm.Data).To(HaveKeyWithValue("policy.json", ContainSubstring(fmt.Sprintf(`"enabled": %v`, enabled))))
		}).WithTimeout(10 * time.Second).WithPolling(2 * time.Millisecond).Should(Succeed())
		propagation += time.Since(start)
	}
	b.ReportMetric(float64(propagation.Milliseconds())/float64(b.N), "ms-to-templates")
	b.ReportMetric(float64(baseline.Milliseconds())/float64(b.N), "ms-baseline-update")
	b.ReportMetric(propagation.Seconds()/baseline.Seconds(), "ratio")
}

func policyHashOf(cm *corev1.ConfigMap) string {
	return policy.HashBytes([]byte(cm.Data[policy.FileName]))
}

// playWorkloadControllers marks the Deployments and StatefulSets of the
// given namespaces rolled out as soon as they appear or change, as the
// real controllers would, until stopped.
func playWorkloadControllers(namespaces []string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var rounds atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			rounds.Add(1)
			for _, ns := range namespaces {
				deps := &appsv1.DeploymentList{}
				if err := k8s.List(ctx, deps, client.InNamespace(ns)); err == nil {
					for i := range deps.Items {
						d := &deps.Items[i]
						r := *d.Spec.Replicas
						if d.Status.ObservedGeneration != d.Generation || d.Status.AvailableReplicas != r || d.Status.UpdatedReplicas != r {
							d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}
							_ = k8s.Status().Update(ctx, d)
						}
					}
				}
				sets := &appsv1.StatefulSetList{}
				if err := k8s.List(ctx, sets, client.InNamespace(ns)); err == nil {
					for i := range sets.Items {
						s := &sets.Items[i]
						if s.Status.ObservedGeneration != s.Generation || s.Status.ReadyReplicas != 1 {
							s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
							_ = k8s.Status().Update(ctx, s)
						}
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// sampleHeap records the peak of live heap bytes of this process (the
// operator's manager and the test) until stopped.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > *peak {
				*peak = v
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// defaultedTerm is a LeapTerm of the given spec with the schema's defaults
// applied, as the API server would store it.
func defaultedTerm(g Gomega, spec string) *v1alpha1.LeapTerm {
	raw := map[string]any{}
	g.Expect(yaml.Unmarshal([]byte(spec), &raw)).To(Succeed())
	obj := map[string]any{"spec": raw}
	v1alpha1.ApplyDefaults(obj)
	term := &v1alpha1.LeapTerm{}
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(obj, term)).To(Succeed())
	return term
}
