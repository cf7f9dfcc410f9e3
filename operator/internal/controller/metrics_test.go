package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestConditionGaugeNamesEachLeapTerm reads the condition gauge as
// Prometheus scrapes it: one series per LeapTerm, condition and status, the
// one that holds at 1.
func TestConditionGaugeNamesEachLeapTerm(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	ready := reconciled(g, createTerm(t, ns, "gauge", typicalSpec))
	rollOut(g, ready)
	waiting := reconciled(g, createTerm(t, ns, "gauge-waiting", typicalSpec))
	g.Eventually(func(g Gomega) { g.Expect(condition(g, ready, ConditionReady)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())

	reg := prometheus.NewRegistry()
	reg.MustRegister(ConditionCollector{Client: k8s})
	series := func(name, cond, status string) string {
		return `leap_leapterm_status_condition{condition="` + cond + `",name="` + name + `",namespace="` + ns + `",status="` + status + `"}`
	}
	mfs, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["namespace"] == ns {
				got[series(l["name"], l["condition"], l["status"])] = m.GetGauge().GetValue()
			}
		}
	}
	g.Expect(got).To(And(
		HaveKeyWithValue(series(ready.Name, ConditionReady, "true"), 1.0),
		HaveKeyWithValue(series(ready.Name, ConditionReady, "false"), 0.0),
		HaveKeyWithValue(series(ready.Name, ConditionReady, "unknown"), 0.0),
		HaveKeyWithValue(series(waiting.Name, ConditionReady, "true"), 0.0),
		HaveKeyWithValue(series(waiting.Name, ConditionReady, "false"), 1.0),
		HaveKeyWithValue(series(waiting.Name, ConditionRedisReady, "false"), 1.0),
		HaveKeyWithValue(series(ready.Name, ConditionPolicyApplied, "true"), 1.0),
	))
	// Every condition of both, three series each.
	g.Expect(got).To(HaveLen(3 * (len(reconciled(g, ready).Status.Conditions) + len(reconciled(g, waiting).Status.Conditions))))
}
