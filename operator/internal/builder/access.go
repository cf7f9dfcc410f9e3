package builder

import (
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"

	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// PortalServiceAccount is the identity of the portal's pods.
func PortalServiceAccount(t *v1alpha1.LeapTerm) *corev1ac.ServiceAccountApplyConfiguration {
	return corev1ac.ServiceAccount(NamesOf(t).PortalAccount(), t.Namespace).
		WithLabels(Labels(t, Portal)).
		WithOwnerReferences(ownerReference(t))
}

// PortalRole lets the portal read and patch its own LeapTerm (the LEAP
// team's attendance switch) and nothing else.
func PortalRole(t *v1alpha1.LeapTerm) *rbacv1ac.RoleApplyConfiguration {
	return rbacv1ac.Role(NamesOf(t).PortalAccount(), t.Namespace).
		WithLabels(Labels(t, Portal)).
		WithOwnerReferences(ownerReference(t)).
		WithRules(rbacv1ac.PolicyRule().
			WithAPIGroups(v1alpha1.GroupVersion.Group).
			WithResources("leapterms").
			WithResourceNames(t.Name).
			WithVerbs("get", "patch"))
}

// PortalRoleBinding grants PortalRole to PortalServiceAccount.
func PortalRoleBinding(t *v1alpha1.LeapTerm) *rbacv1ac.RoleBindingApplyConfiguration {
	name := NamesOf(t).PortalAccount()
	return rbacv1ac.RoleBinding(name, t.Namespace).
		WithLabels(Labels(t, Portal)).
		WithOwnerReferences(ownerReference(t)).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("Role").WithName(name)).
		WithSubjects(rbacv1ac.Subject().WithKind("ServiceAccount").WithName(name).WithNamespace(t.Namespace))
}
