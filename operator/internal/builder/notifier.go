package builder

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// Notifier is the component that sends email: tutors' digests, referrals
// and students' notices. It runs only while spec.notifications.enabled.
const Notifier = "notifier"

// SMTPCredentialsDir is where the notifier finds the username and password
// of spec.notifications.smtp.credentialsSecret, as files the kubelet
// refreshes: a changed password is read at the next send, with no restart.
const SMTPCredentialsDir = "/etc/leap/smtp"

// NotificationsEnabled tells whether t runs the notifier.
func NotificationsEnabled(t *v1alpha1.LeapTerm) bool {
	return t.Spec.Notifications != nil && t.Spec.Notifications.Enabled
}

func notifierComponent(t *v1alpha1.LeapTerm) v1alpha1.Component {
	if t.Spec.Notifications == nil {
		return v1alpha1.Component{}
	}
	return t.Spec.Notifications.Notifier
}

// NotifierToRedis is the NetworkPolicy that lets the notifier reach the
// Managed Redis. The notifier's Deployment, Service, PodDisruptionBudget
// and own NetworkPolicy are all Component(Notifier).
func (n Names) NotifierToRedis() string { return n.term + "-notifier-to-redis" }

// NotifierToScoring is the NetworkPolicy that lets the notifier call
// scoring.
func (n Names) NotifierToScoring() string { return n.term + "-notifier-to-scoring" }

// NotificationsDocument is what the notifier is told of spec.notifications
// (its NOTIFICATIONS variable): the settings with the portal's address
// filled in from its Ingress when not given, and without the size of the
// notifier's own Deployment, so that scaling it rolls no pod.
func NotificationsDocument(t *v1alpha1.LeapTerm) (string, error) {
	n := t.Spec.Notifications.DeepCopy()
	n.Notifier = v1alpha1.Component{}
	if n.PortalURL == "" && t.Spec.Portal.Ingress != nil {
		n.PortalURL = "https://" + t.Spec.Portal.Ingress.Host
	}
	b, err := json.Marshal(n)
	if err != nil {
		return "", fmt.Errorf("encode spec.notifications: %w", err)
	}
	return string(b), nil
}

// NotifierDeployment runs the notifier of t under the policy of hash
// policyHash: a service like the others (probes, metrics, Redis, policy),
// with its settings, scoring's address and the SMTP credentials.
func NotifierDeployment(t *v1alpha1.LeapTerm, images Images, policyHash string) (*appsv1ac.DeploymentApplyConfiguration, error) {
	doc, err := NotificationsDocument(t)
	if err != nil {
		return nil, err
	}
	n := NamesOf(t)
	d := ServiceDeployment(t, Notifier, images, policyHash)
	c := &d.Spec.Template.Spec.Containers[0]
	c.WithEnv(
		corev1ac.EnvVar().WithName("NOTIFICATIONS").WithValue(doc),
		corev1ac.EnvVar().WithName("SCORING_URL").WithValue(fmt.Sprintf("http://%s.%s.svc:%d", n.Component(Scoring), t.Namespace, ServicePort)),
	)
	if smtp := t.Spec.Notifications.SMTP; smtp != nil && smtp.CredentialsSecret != "" {
		d.Spec.Template.Spec.WithVolumes(corev1ac.Volume().WithName("smtp-credentials").WithSecret(
			corev1ac.SecretVolumeSource().WithSecretName(smtp.CredentialsSecret).
				WithItems(corev1ac.KeyToPath().WithKey("username").WithPath("username"),
					corev1ac.KeyToPath().WithKey("password").WithPath("password"))))
		c.WithVolumeMounts(corev1ac.VolumeMount().WithName("smtp-credentials").WithMountPath(SMTPCredentialsDir).WithReadOnly(true))
		c.WithEnv(corev1ac.EnvVar().WithName("SMTP_CREDENTIALS_DIR").WithValue(SMTPCredentialsDir))
	}
	return d, nil
}

// NotifierNetworkPolicy admits nobody to the notifier's API (it serves
// only probes, which come from the kubelet) and the LeapTerm's metrics
// scrapers to its metrics port.
func NotifierNetworkPolicy(t *v1alpha1.LeapTerm) *networkingv1ac.NetworkPolicyApplyConfiguration {
	spec := networkingv1ac.NetworkPolicySpec().
		WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, Notifier))).
		WithPolicyTypes(networkingv1.PolicyTypeIngress)
	if tel := t.Spec.Telemetry; tel != nil && len(tel.MetricsFrom) > 0 {
		from := make([]*networkingv1ac.NetworkPolicyPeerApplyConfiguration, 0, len(tel.MetricsFrom))
		for _, p := range tel.MetricsFrom {
			from = append(from, peer(p))
		}
		spec.WithIngress(networkingv1ac.NetworkPolicyIngressRule().WithFrom(from...).WithPorts(
			networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolTCP).WithPort(intstr.FromInt32(MetricsPort))))
	}
	return networkingv1ac.NetworkPolicy(NamesOf(t).Component(Notifier), t.Namespace).
		WithLabels(Labels(t, Notifier)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(spec)
}

// admitNotifier is a NetworkPolicy that lets the notifier's pods reach
// component c's pods on port. NetworkPolicies add up, so the policies of
// Redis and scoring stay as they are and this one only adds the notifier.
func admitNotifier(t *v1alpha1.LeapTerm, name, c string, port int32) *networkingv1ac.NetworkPolicyApplyConfiguration {
	return networkingv1ac.NetworkPolicy(name, t.Namespace).
		WithLabels(Labels(t, Notifier)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, c))).
			WithPolicyTypes(networkingv1.PolicyTypeIngress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().
				WithFrom(networkingv1ac.NetworkPolicyPeer().WithPodSelector(
					metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, Notifier)))).
				WithPorts(networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolTCP).WithPort(intstr.FromInt32(port)))))
}

// NotifierToRedisNetworkPolicy lets the notifier reach the Managed Redis.
func NotifierToRedisNetworkPolicy(t *v1alpha1.LeapTerm) *networkingv1ac.NetworkPolicyApplyConfiguration {
	return admitNotifier(t, NamesOf(t).NotifierToRedis(), Redis, RedisPort)
}

// NotifierToScoringNetworkPolicy lets the notifier read alerts from
// scoring's API.
func NotifierToScoringNetworkPolicy(t *v1alpha1.LeapTerm) *networkingv1ac.NetworkPolicyApplyConfiguration {
	return admitNotifier(t, NamesOf(t).NotifierToScoring(), Scoring, HTTPPort)
}
