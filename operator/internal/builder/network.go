package builder

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	policyv1ac "k8s.io/client-go/applyconfigurations/policy/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// PortalIngress exposes the portal at spec.portal.ingress.host; nil when the
// LeapTerm asks for none.
func PortalIngress(t *v1alpha1.LeapTerm) *networkingv1ac.IngressApplyConfiguration {
	in := t.Spec.Portal.Ingress
	if in == nil {
		return nil
	}
	pathType := networkingv1.PathTypePrefix
	spec := networkingv1ac.IngressSpec().
		WithRules(networkingv1ac.IngressRule().
			WithHost(in.Host).
			WithHTTP(networkingv1ac.HTTPIngressRuleValue().WithPaths(networkingv1ac.HTTPIngressPath().
				WithPath("/").
				WithPathType(pathType).
				WithBackend(networkingv1ac.IngressBackend().WithService(networkingv1ac.IngressServiceBackend().
					WithName(NamesOf(t).Component(Portal)).
					WithPort(networkingv1ac.ServiceBackendPort().WithName(PortNameHTTP)))))))
	if in.ClassName != nil {
		spec.WithIngressClassName(*in.ClassName)
	}
	if in.TLSSecretName != "" {
		spec.WithTLS(networkingv1ac.IngressTLS().WithHosts(in.Host).WithSecretName(in.TLSSecretName))
	}
	return networkingv1ac.Ingress(NamesOf(t).Component(Portal), t.Namespace).
		WithLabels(Labels(t, Portal)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(spec)
}

// PodDisruptionBudget keeps all but one pod of component c running through
// voluntary disruptions such as node drains.
func PodDisruptionBudget(t *v1alpha1.LeapTerm, c string) *policyv1ac.PodDisruptionBudgetApplyConfiguration {
	return policyv1ac.PodDisruptionBudget(NamesOf(t).Component(c), t.Namespace).
		WithLabels(Labels(t, c)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(policyv1ac.PodDisruptionBudgetSpec().
			WithMaxUnavailable(intstr.FromInt32(1)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, c))))
}

// RedisNetworkPolicy lets only the three services of t, and its backup
// Jobs when it has any, reach the Managed Redis, on its port.
func RedisNetworkPolicy(t *v1alpha1.LeapTerm) *networkingv1ac.NetworkPolicyApplyConfiguration {
	return networkingv1ac.NetworkPolicy(NamesOf(t).Component(Redis), t.Namespace).
		WithLabels(Labels(t, Redis)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(networkingv1ac.NetworkPolicySpec().
			WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, Redis))).
			WithPolicyTypes(networkingv1.PolicyTypeIngress).
			WithIngress(networkingv1ac.NetworkPolicyIngressRule().
				WithFrom(networkingv1ac.NetworkPolicyPeer().WithPodSelector(metav1ac.LabelSelector().
					WithMatchLabels(map[string]string{LabelName: "leap", LabelInstance: t.Name}).
					WithMatchExpressions(metav1ac.LabelSelectorRequirement().
						WithKey(LabelComponent).
						WithOperator(metav1.LabelSelectorOpIn).
						WithValues(redisClients(t)...)))).
				WithPorts(redisPorts(t)...)).
			WithIngress(redisPeers(t)...))
}

// ScoringNetworkPolicy lets only the portal pods of t call the scoring
// pods, whose API has no authentication of its own, on the API's port.
// Peers listed in spec.telemetry.metricsFrom (Prometheus) are let in on the
// metrics port alone, where nothing but /metrics is served: a NetworkPolicy
// chooses ports, not paths, so the two never share one. Probes need no rule:
// they come from the kubelet on the pod's node, which the common CNIs
// (Calico, Cilium, Antrea, OVN-Kubernetes) admit whatever the policies say.
func ScoringNetworkPolicy(t *v1alpha1.LeapTerm) *networkingv1ac.NetworkPolicyApplyConfiguration {
	port := func(n int32) *networkingv1ac.NetworkPolicyPortApplyConfiguration {
		return networkingv1ac.NetworkPolicyPort().WithProtocol(corev1.ProtocolTCP).WithPort(intstr.FromInt32(n))
	}
	spec := networkingv1ac.NetworkPolicySpec().
		WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, Scoring))).
		WithPolicyTypes(networkingv1.PolicyTypeIngress).
		WithIngress(networkingv1ac.NetworkPolicyIngressRule().
			WithFrom(networkingv1ac.NetworkPolicyPeer().
				WithPodSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(t, Portal)))).
			WithPorts(port(HTTPPort)))
	if tel := t.Spec.Telemetry; tel != nil && len(tel.MetricsFrom) > 0 {
		from := make([]*networkingv1ac.NetworkPolicyPeerApplyConfiguration, 0, len(tel.MetricsFrom))
		for _, p := range tel.MetricsFrom {
			from = append(from, peer(p))
		}
		spec.WithIngress(networkingv1ac.NetworkPolicyIngressRule().WithFrom(from...).WithPorts(port(MetricsPort)))
	}
	return networkingv1ac.NetworkPolicy(NamesOf(t).Component(Scoring), t.Namespace).
		WithLabels(Labels(t, Scoring)).
		WithOwnerReferences(ownerReference(t)).
		WithSpec(spec)
}

// peer is p as an apply configuration.
func peer(p networkingv1.NetworkPolicyPeer) *networkingv1ac.NetworkPolicyPeerApplyConfiguration {
	out := networkingv1ac.NetworkPolicyPeer()
	if p.PodSelector != nil {
		out.WithPodSelector(labelSelector(p.PodSelector))
	}
	if p.NamespaceSelector != nil {
		out.WithNamespaceSelector(labelSelector(p.NamespaceSelector))
	}
	if b := p.IPBlock; b != nil {
		out.WithIPBlock(networkingv1ac.IPBlock().WithCIDR(b.CIDR).WithExcept(b.Except...))
	}
	return out
}

// labelSelector is s as an apply configuration. An empty selector stays
// empty, not absent: in a peer it selects everything.
func labelSelector(s *metav1.LabelSelector) *metav1ac.LabelSelectorApplyConfiguration {
	out := metav1ac.LabelSelector()
	if len(s.MatchLabels) > 0 {
		out.WithMatchLabels(s.MatchLabels)
	}
	for _, r := range s.MatchExpressions {
		out.WithMatchExpressions(metav1ac.LabelSelectorRequirement().
			WithKey(r.Key).WithOperator(r.Operator).WithValues(r.Values...))
	}
	return out
}
