// Package cluster starts a hermetic Kubernetes cluster on loopback for the
// end-to-end tests and `make run-cluster`: etcd, kube-apiserver (RBAC),
// kube-controller-manager (every controller: Deployments, ReplicaSets,
// StatefulSets, the garbage collector, the PersistentVolume binder...),
// kube-scheduler and kwok, which plays the kubelet of one fake Node so that
// pods are scheduled, run and become ready without containers. Every binary
// is built from Go modules by hack/build-envtest.sh into bin/k8s/<version>.
package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// stages are the kwok Stages of the fake node and its pods: kwok's own fast
// defaults (node-initialize, heartbeat with lease, pod ready, complete, delete).
//
//go:embed stages.yaml
var stages []byte

// NodeName is the fake node every pod is scheduled on.
const NodeName = "kwok-node-0"

// The node's heartbeat. kube-controller-manager marks a node whose Lease in
// kube-node-lease has not been renewed within NodeMonitorGracePeriod as
// not ready, and every pod on it Ready=False; kwok renews the fake node's
// Lease (every quarter of NodeLeaseDuration) only when it is given a lease
// duration. Both are shorter than Kubernetes' defaults (40 s lease, 50 s
// grace) so that a test can wait past the grace period in seconds; the lease
// is still renewed five times within it, so a loaded machine does not trip it.
const (
	NodeLeaseDuration      = 8 * time.Second
	NodeMonitorGracePeriod = 10 * time.Second
	// NodeMonitorPeriod is how often the node lifecycle controller looks.
	NodeMonitorPeriod = time.Second
)

// PersistentVolumes is how many hostPath PersistentVolumes (10Gi, no storage
// class) Start creates, so that StatefulSets' claims bind through the real
// PersistentVolume controller without a provisioner.
const PersistentVolumes = 8

// Options configure Start.
type Options struct {
	// Assets is the folder of etcd, kube-apiserver, kube-controller-manager,
	// kube-scheduler and kwok.
	Assets string
	// Dir holds certificates, data and logs; empty for a new temporary
	// folder, removed by Stop.
	Dir string
	// Log, when set, receives progress lines.
	Log func(format string, args ...any)
	// BeforeControllers, when set, runs once the API server is ready and
	// before kube-controller-manager starts, with the administrator's
	// kubeconfig: the place to install CRDs (e.g. `helm install` a chart
	// that holds them). The garbage collector discovers kinds that appear
	// later only on its 30-second resync, so until then deleting an owner of
	// such a kind collects nothing.
	BeforeControllers func(ctx context.Context, cfg *rest.Config, kubeconfig string) error
}

// Cluster is a running cluster.
type Cluster struct {
	// Config is an administrator's (system:masters) client configuration.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file with the same credentials.
	Kubeconfig string
	// Dir holds certificates, data and each process's log (<name>.log).
	Dir string

	ownDir bool
	procs  []*proc
	pki    *pki
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// Start starts the cluster and returns once the node is Ready and the
// default ServiceAccount exists. On error, whatever started is stopped.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	for _, bin := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(o.Assets, bin)); err != nil {
			return nil, fmt.Errorf("the e2e cluster is missing a binary (%w): run `make envtest e2e-cluster`, or the tests through `make e2e`", err)
		}
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	c = &Cluster{Dir: o.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "leap-cluster-"); err != nil {
			return nil, err
		}
		c.ownDir = true
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	started := time.Now()
	if c.pki, err = newPKI(c.Dir); err != nil {
		return c, fmt.Errorf("certificates: %w", err)
	}
	ports, err := FreePorts(3)
	if err != nil {
		return c, err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	bin := func(name string) string { return filepath.Join(o.Assets, name) }
	p := c.pki

	// etcd.
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := c.run("etcd", bin("etcd"),
		"--name=default",
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync=true",
	); err != nil {
		return c, err
	}

	// kube-apiserver.
	if err := c.run("kube-apiserver", bin("kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(apiPort),
		"--cert-dir="+filepath.Join(c.Dir, "apiserver"),
		"--tls-cert-file="+p.file("serving.crt"), "--tls-private-key-file="+p.file("serving.key"),
		"--client-ca-file="+p.file("ca.crt"),
		"--service-account-key-file="+p.file("sa.pub"),
		"--service-account-signing-key-file="+p.file("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.0.0.0/16",
		"--allow-privileged=true",
	); err != nil {
		return c, err
	}
	host := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.Config = &rest.Config{
		Host: host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: p.caPEM, CertData: p.adminCertPEM, KeyData: p.adminKeyPEM,
		},
		QPS: 100, Burst: 200,
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := WriteKubeconfig(c.Config, c.Kubeconfig, ""); err != nil {
		return c, err
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return c, err
	}
	if err := c.waitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	}); err != nil {
		return c, err
	}
	logf("kube-apiserver ready at %s (%s)", host, time.Since(started).Round(time.Millisecond))

	if o.BeforeControllers != nil {
		if err := o.BeforeControllers(ctx, c.Config, c.Kubeconfig); err != nil {
			return c, fmt.Errorf("before the controllers: %w", err)
		}
	}

	// The controllers, the scheduler and kwok, as the administrator.
	if err := c.run("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig,
		"--controllers=*",
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--service-account-private-key-file="+p.file("sa.key"),
		"--root-ca-file="+p.file("ca.crt"),
		"--secure-port=0",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
		"--concurrent-statefulset-syncs=10", "--concurrent-gc-syncs=20",
		"--node-monitor-grace-period="+NodeMonitorGracePeriod.String(),
		"--node-monitor-period="+NodeMonitorPeriod.String(),
	); err != nil {
		return c, err
	}
	if err := c.run("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
	); err != nil {
		return c, err
	}
	stagesFile := filepath.Join(c.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stagesFile, stages, 0o600); err != nil {
		return c, err
	}
	kwokPort, err := FreePorts(1)
	if err != nil {
		return c, err
	}
	if err := c.run("kwok", bin("kwok"),
		"--kubeconfig="+c.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--config="+stagesFile,
		"--server-address=127.0.0.1:"+strconv.Itoa(kwokPort[0]),
		"--node-ip=127.0.0.1",
		// Without it kwok keeps no Lease, and the stage
		// node-heartbeat-with-lease refreshes the node's status only every
		// 10 to 20 minutes: the node goes NotReady after the grace period.
		"--node-lease-duration-seconds="+strconv.Itoa(int(NodeLeaseDuration/time.Second)),
	); err != nil {
		return c, err
	}

	// The node, the volumes, and what proves the controllers run.
	if err := createNode(ctx, cs); err != nil {
		return c, err
	}
	if err := createVolumes(ctx, cs, c.Dir); err != nil {
		return c, err
	}
	if err := c.waitFor(ctx, "node "+NodeName+" Ready", func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil //nolint:nilerr // not yet
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return c, err
	}
	if err := c.waitFor(ctx, "the default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return c, err
	}
	logf("cluster ready in %s (dir %s)", time.Since(started).Round(time.Millisecond), c.Dir)
	return c, nil
}

// Stop ends every process (SIGTERM to its process group, SIGKILL after 10 s),
// waits for it, and removes Dir when Start made it.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		pr := c.procs[i]
		select {
		case <-pr.done:
			continue
		default:
		}
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-pr.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
			<-pr.done
			errs = append(errs, fmt.Errorf("%s did not stop on SIGTERM within 10s", pr.name))
		}
	}
	c.procs = nil
	if c.ownDir && c.Dir != "" {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
		c.Dir = ""
	}
	return errors.Join(errs...)
}

// Logs returns the last n bytes of each process's log, for a failing test.
func (c *Cluster) Logs(n int) string {
	var b strings.Builder
	for _, pr := range c.procs {
		data, _ := os.ReadFile(pr.log)
		if len(data) > n {
			data = data[len(data)-n:]
		}
		fmt.Fprintf(&b, "==== %s (%s) ====\n%s\n", pr.name, pr.log, data)
	}
	return b.String()
}

// Exited reports the processes that are no longer running, with why.
func (c *Cluster) Exited() []string {
	var out []string
	for _, pr := range c.procs {
		select {
		case <-pr.done:
			out = append(out, fmt.Sprintf("%s: %v", pr.name, pr.err))
		default:
		}
	}
	return out
}

func (c *Cluster) run(name, path string, args ...string) error {
	logPath := filepath.Join(c.Dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...) //nolint:gosec,noctx // our own binaries; Stop ends them
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		pr.err = cmd.Wait()
		_ = f.Close()
		close(pr.done)
	}()
	c.procs = append(c.procs, pr)
	return nil
}

// waitFor polls cond every 50 ms for up to a minute, failing early when a
// process exits.
func (c *Cluster) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if exited := c.Exited(); len(exited) > 0 {
			return fmt.Errorf("waiting for %s: exited: %s\n%s", what, strings.Join(exited, "; "), c.Logs(3000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w\n%s", what, ctx.Err(), c.Logs(3000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func createNode(ctx context.Context, cs kubernetes.Interface) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("500"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"type": "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node: %w", err)
	}
	// Capacity is status: set it through the status subresource too.
	created.Status.Capacity, created.Status.Allocatable = capacity, capacity
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) {
		return fmt.Errorf("set node capacity: %w", err)
	}
	return nil
}

func createVolumes(ctx context.Context, cs kubernetes.Interface, dir string) error {
	for i := range PersistentVolumes {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("local-%d", i)},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				PersistentVolumeSource: corev1.PersistentVolumeSource{
					HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(dir, "volumes", strconv.Itoa(i))},
				},
			},
		}
		if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create PersistentVolume: %w", err)
		}
	}
	return nil
}

// WriteKubeconfig writes cfg as a kubeconfig file; impersonate, when set,
// makes every request act as that user (e.g. system:serviceaccount:ns:name).
func WriteKubeconfig(cfg *rest.Config, path, impersonate string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Impersonate: impersonate,
	}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "e2e"
	return clientcmd.WriteToFile(*kc, path)
}

// FreePorts finds n free loopback ports at once.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// pki holds the cluster's certificates and keys, written under dir/pki.
type pki struct {
	dir                              string
	caPEM, adminCertPEM, adminKeyPEM []byte
	caCert                           *x509.Certificate
	caKey                            *ecdsa.PrivateKey
}

func (p *pki) file(name string) string { return filepath.Join(p.dir, name) }

func newPKI(dir string) (*pki, error) {
	p := &pki{dir: filepath.Join(dir, "pki")}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "leap-e2e-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		return nil, err
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(p.file("ca.crt"), p.caPEM, 0o600); err != nil {
		return nil, err
	}
	// The API server's serving certificate.
	servingCert, servingKey, err := p.issue(2, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.file("serving.crt"), servingCert, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.file("serving.key"), servingKey, 0o600); err != nil {
		return nil, err
	}
	// The administrator: system:masters.
	if p.adminCertPEM, p.adminKeyPEM, err = p.issue(3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "leap-e2e-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return nil, err
	}
	// The service-account token signing key pair.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.file("sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.file("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pki) issue(serial int64, tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = big.NewInt(serial)
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(7*24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
