// Package v1alpha1 holds the LeapTerm API: one LEAP installation for one
// academic year, its calendar, its policy and the components that serve it.
//
// The package depends on apimachinery only, so that the services can read a
// LeapTerm file without pulling in the operator.
//
// +kubebuilder:object:generate=true
// +groupName=leap.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "leap.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this package to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &LeapTerm{}, &LeapTermList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
