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
					WithPort(networkingv1ac.ServiceBackendPort().WithName("http")))))))
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

// RedisNetworkPolicy lets only the three services of t reach the Managed
// Redis, on its port.
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
						WithValues(Services...)))).
				WithPorts(networkingv1ac.NetworkPolicyPort().
					WithProtocol(corev1.ProtocolTCP).
					WithPort(intstr.FromInt32(RedisPort)))))
}
