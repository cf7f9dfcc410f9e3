package controller

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReadyGaugeCountsLeapTerms(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(ReadyCollector{Client: k8s})
	ready := func(status string) float64 {
		mfs, err := reg.Gather()
		g.Expect(err).NotTo(HaveOccurred())
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == status {
					return m.GetGauge().GetValue()
				}
			}
		}
		return -1
	}
	before := ready("True")
	ns := newNamespace(t)
	term := reconciled(g, createTerm(t, ns, "gauge", typicalSpec))
	rollOut(g, term)
	g.Eventually(func(g Gomega) { g.Expect(condition(g, term, ConditionReady)).To(Equal(metav1.ConditionTrue)) }).
		WithTimeout(10 * time.Second).Should(Succeed())
	g.Expect(ready("True")).To(Equal(before + 1))
	g.Expect(testutil.CollectAndCount(ReadyCollector{Client: k8s})).To(Equal(3))
}
