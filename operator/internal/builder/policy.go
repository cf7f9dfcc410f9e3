package builder

import (
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/leap-dev/leap/operator/api/policy"
	"github.com/leap-dev/leap/operator/api/v1alpha1"
)

// PolicyDocument is the encoded policy document of t and its hash.
func PolicyDocument(t *v1alpha1.LeapTerm) (encoded []byte, hash string, err error) {
	encoded, err = policy.FromLeapTerm(t).Marshal()
	if err != nil {
		return nil, "", err
	}
	return encoded, policy.HashBytes(encoded), nil
}

// PolicyConfigMap holds the policy document every service mounts.
func PolicyConfigMap(t *v1alpha1.LeapTerm, encoded []byte) *corev1ac.ConfigMapApplyConfiguration {
	return corev1ac.ConfigMap(NamesOf(t).PolicyConfigMap(), t.Namespace).
		WithLabels(Labels(t, Policy)).
		WithOwnerReferences(ownerReference(t)).
		WithData(map[string]string{policy.FileName: string(encoded)})
}
