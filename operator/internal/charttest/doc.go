// Package charttest checks the Helm chart charts/leap-operator as a platform
// engineer would use it: helm lint; helm template with the default values,
// with every file of the chart's examples/ and with more combinations; every
// rendered object validated strictly offline (built-in kinds by client-go's
// strict decoding, custom resources by their CRD's schema) and accepted by a
// real API server in a server-side dry run (namespaces under the restricted
// Pod Security Standard, no warning allowed); the chart's CRD and RBAC
// compared with config/, which they are generated from; and the LeapTerm
// that NOTES.txt tells people to apply accepted too.
//
// It holds tests only. They run helm from $HELM (the Makefile exports it and
// builds it first) or bin/tools/helm-v*, and fail, never skip, without it.
package charttest
