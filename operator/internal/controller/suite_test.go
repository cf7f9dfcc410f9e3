package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
	"github.com/leap-dev/leap/operator/internal/testenv"
)

// The suite runs one real API server and one manager for all tests. The API
// server has no controllers: no Deployment ever rolls out and nothing is
// garbage-collected, so tests write workload status themselves and check
// owner references directly.
var (
	cfg       *rest.Config
	k8s       client.Client // direct, uncached: what a person with kubectl sees
	mgrClient client.Client // the manager's cached client
	testClock = clocktesting.NewFakeClock(time.Date(2026, 10, 20, 12, 0, 0, 0, time.UTC))
	images    = build.DefaultImages("registry.test/leap", "v0.0.0-test")
	writes    atomic.Int64 // writes made by the manager's reconciler
)

// testInstance is the name the suite's operator claims LeapTerms under.
const testInstance = "leap-system/leap-test"

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	cfg = env.Config
	scheme := testenv.Scheme()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgrClient = mgr.GetClient()
	r := &LeapTermReconciler{
		Client:   countingClient(mgrClient, &writes),
		Recorder: mgr.GetEventRecorder("leap-operator"),
		Clock:    testClock,
		Images:   images,
		Random:   rand.Reader,
		Instance: testInstance,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
	}
	return code
}

// countingClient counts every write a reconciler sends to the API server.
func countingClient(c client.Client, n *atomic.Int64) client.Client {
	return interceptor.NewClient(noWatch{c}, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			n.Add(1)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			n.Add(1)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			n.Add(1)
			return c.Patch(ctx, obj, patch, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			n.Add(1)
			return c.Apply(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			n.Add(1)
			return c.Delete(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			n.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			n.Add(1)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
}

// newNamespace makes a namespace of its own for one test.
func newNamespace(t testing.TB) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "leap-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

const typicalSpec = `
timezone: Europe/London
terms:
- {name: autumn, start: "2026-10-05", end: "2026-12-11"}
- {name: spring, start: "2027-01-18", end: "2027-03-26"}
breaks:
- {name: reading-week, start: "2026-11-09", end: "2026-11-13"}
attendance: {enabled: true}
portal: {replicas: 2, ingress: {host: leap.example.ac.uk}}
telemetry:
  metricsFrom:
  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
    podSelector: {matchExpressions: [{key: app.kubernetes.io/name, operator: In, values: [prometheus]}]}
`

// createTerm creates a LeapTerm from a YAML spec in namespace ns.
func createTerm(t testing.TB, ns, name, spec string) *v1alpha1.LeapTerm {
	t.Helper()
	term := &v1alpha1.LeapTerm{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := yaml.UnmarshalStrict([]byte(spec), &term.Spec); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(context.Background(), term); err != nil {
		t.Fatal(err)
	}
	return term
}

// get reads the current state of obj through the uncached client.
func get(g Gomega, obj client.Object) {
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
}

// reconciled waits until the operator has reconciled the LeapTerm's
// current generation and returns it.
func reconciled(g Gomega, term *v1alpha1.LeapTerm) *v1alpha1.LeapTerm {
	cur := &v1alpha1.LeapTerm{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(term), cur)).To(Succeed())
		g.Expect(cur.Status.ObservedGeneration).To(Equal(cur.Generation))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return cur
}

// rollOut plays the Deployment and StatefulSet controllers that the test API
// server lacks: it marks every workload of the LeapTerm as fully rolled out.
func rollOut(g Gomega, term *v1alpha1.LeapTerm) {
	ctx := context.Background()
	n := build.NamesOf(term)
	for _, c := range build.Services {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: term.Namespace, Name: n.Component(c)}}
		g.Eventually(func(g Gomega) {
			get(g, d)
			r := *d.Spec.Replicas
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r,
			}
			g.Expect(k8s.Status().Update(ctx, d)).To(Succeed())
		}).WithTimeout(10 * time.Second).Should(Succeed())
	}
	if term.Spec.Redis.Mode == v1alpha1.RedisExternal {
		return
	}
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: term.Namespace, Name: n.Component(build.Redis)}}
	g.Eventually(func(g Gomega) {
		get(g, s)
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		g.Expect(k8s.Status().Update(ctx, s)).To(Succeed())
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

// condition returns the status of one condition of the LeapTerm, or "".
func condition(g Gomega, term *v1alpha1.LeapTerm, typ string) metav1.ConditionStatus {
	cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
	get(g, cur)
	for _, c := range cur.Status.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

// noWatch lets the manager's client, which does not watch, be intercepted.
type noWatch struct{ client.Client }

func (noWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("the reconciler does not watch")
}

// updateTerm changes the LeapTerm as a person would, retrying when the
// operator's status writes got there first.
func updateTerm(g Gomega, term *v1alpha1.LeapTerm, change func(*v1alpha1.LeapTerm)) {
	g.Eventually(func() error {
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(term), term); err != nil {
			return err
		}
		change(term)
		return k8s.Update(context.Background(), term)
	}).WithTimeout(5 * time.Second).Should(Succeed())
}

// policyIn reads the policy ConfigMap of a LeapTerm as the services would,
// and the hash of the document it holds.
func policyIn(g Gomega, term *v1alpha1.LeapTerm) (policy.Document, string) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: term.Namespace, Name: build.NamesOf(term).PolicyConfigMap()}}
	get(g, cm)
	doc, err := policy.Parse([]byte(cm.Data[policy.FileName]))
	g.Expect(err).NotTo(HaveOccurred())
	return doc, policy.HashBytes([]byte(cm.Data[policy.FileName]))
}
