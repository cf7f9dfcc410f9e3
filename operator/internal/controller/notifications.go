package controller

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
	build "github.com/leap-dev/leap/operator/internal/builder"
)

// phaseNotifications runs the notifier when the LeapTerm asks for email.
const phaseNotifications = "notifications"

// ConditionNotificationsReady is True when the notifier is rolled out and
// its mail server answers; absent while notifications are off.
const ConditionNotificationsReady = "NotificationsReady"

// Reasons of NotificationsReady.
const (
	ReasonSMTPReachable   = "SMTPReachable"
	ReasonSMTPUnreachable = "SMTPUnreachable"
	ReasonNotifierRolling = "NotifierNotAvailable"
)

// smtpRecheck is how often the operator looks at the mail server again
// while notifications are on: the condition follows an outage and its end
// without waiting for a change to the LeapTerm.
const smtpRecheck = time.Minute

// smtpProbeTimeout bounds one look at the mail server.
const smtpProbeTimeout = 3 * time.Second

// reconcileNotifications runs the notifier (Deployment, Service,
// PodDisruptionBudget, NetworkPolicies) while spec.notifications.enabled,
// removes it otherwise, and sets NotificationsReady. It answers when to
// look at the mail server again (zero: no need).
//
// The operator itself opens a connection to the mail server and reads its
// greeting: that is what "unreachable" means (no such host, refused,
// silent, not SMTP, a TLS certificate that does not verify), it needs no
// status writer besides the operator and no RBAC for the notifier, and it
// shows on the LeapTerm even while the notifier cannot start. What it
// cannot see (a wrong password, a rejected recipient) the notifier
// reports in its own metrics and in the send log the LEAP team reads.
func (r *LeapTermReconciler) reconcileNotifications(ctx context.Context, a applier, t *v1alpha1.LeapTerm, hash string, secrets map[string]map[string][]byte) (time.Duration, error) {
	n := build.NamesOf(t)
	k := key(t, n.Component(build.Notifier))
	if !build.NotificationsEnabled(t) {
		meta.RemoveStatusCondition(&t.Status.Conditions, ConditionNotificationsReady)
		return 0, errors.Join(
			deleteIfPresent(ctx, r.Client, k, &appsv1.Deployment{}),
			deleteIfPresent(ctx, r.Client, k, &corev1.Service{}),
			deleteIfPresent(ctx, r.Client, k, &policyv1.PodDisruptionBudget{}),
			deleteIfPresent(ctx, r.Client, k, &networkingv1.NetworkPolicy{}),
			deleteIfPresent(ctx, r.Client, key(t, n.NotifierToRedis()), &networkingv1.NetworkPolicy{}),
			deleteIfPresent(ctx, r.Client, key(t, n.NotifierToScoring()), &networkingv1.NetworkPolicy{}),
		)
	}
	if err := r.applyService(ctx, a, t, build.Notifier); err != nil {
		return 0, err
	}
	if _, err := apply(ctx, a, k, &policyv1.PodDisruptionBudget{}, build.PodDisruptionBudget(t, build.Notifier), policyv1ac.ExtractPodDisruptionBudget); err != nil {
		return 0, err
	}
	if _, err := apply(ctx, a, k, &networkingv1.NetworkPolicy{}, build.NotifierNetworkPolicy(t), networkingv1ac.ExtractNetworkPolicy); err != nil {
		return 0, err
	}
	if _, err := apply(ctx, a, key(t, n.NotifierToScoring()), &networkingv1.NetworkPolicy{}, build.NotifierToScoringNetworkPolicy(t), networkingv1ac.ExtractNetworkPolicy); err != nil {
		return 0, err
	}
	toRedis := key(t, n.NotifierToRedis())
	if t.Spec.Redis.Mode == v1alpha1.RedisExternal {
		if err := deleteIfPresent(ctx, r.Client, toRedis, &networkingv1.NetworkPolicy{}); err != nil {
			return 0, err
		}
	} else if _, err := apply(ctx, a, toRedis, &networkingv1.NetworkPolicy{}, build.NotifierToRedisNetworkPolicy(t), networkingv1ac.ExtractNetworkPolicy); err != nil {
		return 0, err
	}
	if secrets == nil {
		return 0, errSecretsUnknown
	}
	desired, err := build.NotifierDeployment(t, r.Images, hash)
	if err != nil {
		return 0, err
	}
	desired.Spec.Template.WithAnnotations(map[string]string{
		build.AnnotationSecretsHash: build.SecretsHash(secrets, build.SecretsOf(t, build.Notifier)),
	})
	if _, err := apply(ctx, a, k, &appsv1.Deployment{}, desired, appsv1ac.ExtractDeployment); err != nil {
		return 0, err
	}

	d := &appsv1.Deployment{}
	if err := r.Client.Get(ctx, k, d); client404(err) != nil {
		return 0, fmt.Errorf("get Deployment %s: %w", k.Name, err)
	}
	_, available, rollout := rolloutState(deploymentRollout(d))
	smtp := t.Spec.Notifications.SMTP
	address := net.JoinHostPort(smtp.Host, strconv.Itoa(int(smtp.Port)))
	probeErr := probeSMTP(ctx, smtp.Host, smtp.Port, smtp.TLS)
	cond := metav1.Condition{Type: ConditionNotificationsReady, ObservedGeneration: t.Generation}
	switch {
	case probeErr != nil:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonSMTPUnreachable
		cond.Message = fmt.Sprintf("mail server %s: %v; messages wait in the queue and are retried", address, probeErr)
	case !available:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonNotifierRolling
		cond.Message = "notifier: " + rollout
	default:
		cond.Status, cond.Reason = metav1.ConditionTrue, ReasonSMTPReachable
		cond.Message = fmt.Sprintf("mail server %s answers; notifier: %s", address, rollout)
	}
	meta.SetStatusCondition(&t.Status.Conditions, cond)
	return smtpRecheck, nil
}

// probeSMTP connects to the mail server as the notifier would (TLS first
// for ImplicitTLS) and reads its 220 greeting.
func probeSMTP(ctx context.Context, host string, port int32, mode v1alpha1.SMTPTLS) error {
	ctx, cancel := context.WithTimeout(ctx, smtpProbeTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(port))))
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if mode == v1alpha1.SMTPImplicitTLS {
		tc := tls.Client(conn, &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		conn = tc
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no greeting: %w", err)
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("not an SMTP server ready for mail: it said %q", strings.TrimSpace(line))
	}
	_, _ = conn.Write([]byte("QUIT\r\n"))
	return nil
}

// NotificationsCollector exports, for each LeapTerm with notifications on,
// whether its NotificationsReady condition is True (1) or not (0), read
// from the operator's cache at each scrape: an alert on it catches a mail
// server that went away.
type NotificationsCollector struct {
	Client client.Reader
}

var notificationsReadyDesc = prometheus.NewDesc("leap_leapterm_notifications_ready",
	"1 when the LeapTerm's notifier is rolled out and its mail server answers, 0 when not; absent while notifications are off.",
	[]string{"namespace", "leapterm", "reason"}, nil)

// Describe implements prometheus.Collector.
func (c NotificationsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- notificationsReadyDesc }

// Collect implements prometheus.Collector.
func (c NotificationsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list := &v1alpha1.LeapTermList{}
	if err := c.Client.List(ctx, list); err != nil {
		return
	}
	for i := range list.Items {
		t := &list.Items[i]
		cond := meta.FindStatusCondition(t.Status.Conditions, ConditionNotificationsReady)
		if cond == nil || !build.NotificationsEnabled(t) {
			continue
		}
		v := 0.0
		if cond.Status == metav1.ConditionTrue {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(notificationsReadyDesc, prometheus.GaugeValue, v, t.Namespace, t.Name, cond.Reason)
	}
}
