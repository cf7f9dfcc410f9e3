package controller

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// smtpGreeter is a listener that greets every connection as a mail server
// does, then hangs up.
func smtpGreeter(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("220 test ESMTP ready\r\n"))
			_ = c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// closedPort is a port on which nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func notificationsSpec(port int) string {
	return typicalSpec + fmt.Sprintf(`notifications:
  enabled: true
  universityName: University of Testing
  smtp: {host: 127.0.0.1, port: %d, from: leap@uni.test, credentialsSecret: smtp-login}
  referralTargets: [{service: wellbeing, email: wellbeing@uni.test}]
`, port)
}

func notificationsCondition(g Gomega, term *v1alpha1.LeapTerm) *metav1.Condition {
	cur := &v1alpha1.LeapTerm{ObjectMeta: term.ObjectMeta}
	get(g, cur)
	return meta.FindStatusCondition(cur.Status.Conditions, ConditionNotificationsReady)
}

// spec.notifications runs the notifier with its Secret reference; a mail
// server nobody answers on gives NotificationsReady=False with the reason,
// and a metric of 0, while everything else runs; the server answering
// turns both around; switching notifications off removes the notifier.
func TestNotificationsRunTheNotifierAndReportTheMailServer(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	down := closedPort(t)
	term := reconciled(g, createTerm(t, ns, "mail", notificationsSpec(down)))
	n := build.NamesOf(term)
	k := client.ObjectKey{Namespace: ns, Name: n.Component(build.Notifier)}

	d := &appsv1.Deployment{}
	g.Expect(k8s.Get(ctx, k, d)).To(Succeed())
	g.Expect(d.OwnerReferences).To(ConsistOf(build.OwnerReference(term)))
	c := d.Spec.Template.Spec.Containers[0]
	g.Expect(c.Image).To(Equal(images.Notifier))
	g.Expect(c.Env).To(ContainElement(HaveField("Name", "NOTIFICATIONS")))
	g.Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(And(
		HaveField("Name", "smtp-credentials"), HaveField("VolumeSource.Secret.SecretName", "smtp-login"))))
	g.Expect(k8s.Get(ctx, k, &corev1.Service{})).To(Succeed())
	g.Expect(k8s.Get(ctx, k, &policyv1.PodDisruptionBudget{})).To(Succeed())
	for _, name := range []string{k.Name, n.NotifierToRedis(), n.NotifierToScoring()} {
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &networkingv1.NetworkPolicy{})).To(Succeed(), name)
	}

	// Nothing answers: False, with the reason and the address, and the
	// LeapTerm's other components unaffected.
	g.Eventually(func(g Gomega) {
		cond := notificationsCondition(g, term)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(cond.Reason).To(Equal(ReasonSMTPUnreachable))
		g.Expect(cond.Message).To(ContainSubstring(fmt.Sprintf("127.0.0.1:%d", down)))
		g.Expect(cond.Message).To(ContainSubstring("refused"))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	collector := NotificationsCollector{Client: k8s}
	g.Expect(metricFor(t, collector, ns)).To(Equal(0.0))

	// A server that answers, and the notifier rolled out: True, metric 1.
	up := smtpGreeter(t)
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Notifications.SMTP.Port = int32(up) })
	term = reconciled(g, term)
	rollOutNotifier(g, term)
	g.Eventually(func(g Gomega) {
		cond := notificationsCondition(g, term)
		g.Expect(cond).NotTo(BeNil())
		g.Expect(cond.Status).To(Equal(metav1.ConditionTrue), cond.Message)
		g.Expect(cond.Reason).To(Equal(ReasonSMTPReachable))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	g.Expect(metricFor(t, collector, ns)).To(Equal(1.0))

	// Off: the notifier and its objects go, and so does the condition.
	updateTerm(g, term, func(t *v1alpha1.LeapTerm) { t.Spec.Notifications.Enabled = false })
	g.Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, k, &appsv1.Deployment{}))).To(BeTrue())
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, k, &corev1.Service{}))).To(BeTrue())
		g.Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: n.NotifierToScoring()}, &networkingv1.NetworkPolicy{}))).To(BeTrue())
		g.Expect(notificationsCondition(g, term)).To(BeNil())
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

// A LeapTerm without notifications runs no notifier.
func TestNoNotificationsNoNotifier(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "quiet", typicalSpec))
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: build.NamesOf(term).Component(build.Notifier)}, &appsv1.Deployment{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	g.Expect(notificationsCondition(g, term)).To(BeNil())
}

// metricFor is the value of leap_leapterm_notifications_ready for the one
// LeapTerm of namespace ns.
func metricFor(t *testing.T, c NotificationsCollector, ns string) float64 {
	t.Helper()
	g := NewWithT(t)
	var v float64
	g.Eventually(func(g Gomega) {
		ch := make(chan prometheus.Metric, 100)
		go func() { c.Collect(ch); close(ch) }()
		found := false
		for m := range ch {
			pb := &dto.Metric{}
			g.Expect(m.Write(pb)).To(Succeed())
			for _, l := range pb.GetLabel() {
				if l.GetName() == "namespace" && l.GetValue() == ns {
					v, found = pb.GetGauge().GetValue(), true
				}
			}
		}
		g.Expect(found).To(BeTrue())
	}).WithTimeout(10 * time.Second).Should(Succeed())
	return v
}

// rollOutNotifier plays the Deployment controller for the notifier.
func rollOutNotifier(g Gomega, term *v1alpha1.LeapTerm) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: term.Namespace, Name: build.NamesOf(term).Component(build.Notifier)}}
	g.Eventually(func(g Gomega) {
		get(g, d)
		r := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}
		g.Expect(k8s.Status().Update(context.Background(), d)).To(Succeed())
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

// Each way a mail server can be unreachable is named in the condition's
// message: no such host, nothing listening, something that is not SMTP.
func TestSMTPProbeSaysWhy(t *testing.T) {
	notSMTP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = notSMTP.Close() })
	go func() {
		for {
			c, err := notSMTP.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n"))
			_ = c.Close()
		}
	}()
	for _, tc := range []struct {
		host string
		port int
		want string
	}{
		{"nosuchhost.invalid", 587, "no such host"},
		{"127.0.0.1", closedPort(t), "refused"},
		{"127.0.0.1", notSMTP.Addr().(*net.TCPAddr).Port, "not an SMTP server"},
	} {
		err := probeSMTP(context.Background(), tc.host, int32(tc.port), v1alpha1.SMTPStartTLS)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:%d: %v, want an error saying %q", tc.host, tc.port, err, tc.want)
		}
	}
	if err := probeSMTP(context.Background(), "127.0.0.1", int32(smtpGreeter(t)), v1alpha1.SMTPStartTLS); err != nil {
		t.Errorf("a server that greets: %v", err)
	}
}
