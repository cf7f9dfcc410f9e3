// Package e2e runs the operator end to end on a hermetic cluster
// (operator/internal/cluster: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok's fake node): the chart installed with helm, the
// real operator binary run as a local process with the chart's
// ServiceAccount's permissions, the samples rolled out by the real
// Deployment, StatefulSet and garbage-collector controllers. `make e2e`.
package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/leap-dev/leap/operator/internal/cluster"
	"github.com/leap-dev/leap/operator/internal/scheme"
	"github.com/leap-dev/leap/operator/internal/testenv"
)

// The chart's release, and the namespace of the samples.
const (
	releaseName      = "leap"
	releaseNamespace = "leap-system"
	samplesNamespace = "leap"
	// version is what the operator under test is stamped with; nextVersion
	// is the upgrade's, which changes the default component image tag.
	version     = "0.1.0"
	nextVersion = "0.1.1-e2e"
)

var (
	env struct {
		cluster    *cluster.Cluster
		k8s        client.Client
		tmp        string
		kubectl    string
		helm       string
		helmEnv    []string
		operator   string // the operator binary at version
		upgraded   string // ... at nextVersion
		opKubecfg  string // the kubeconfig impersonating the chart's ServiceAccount
		sa         string // system:serviceaccount:<ns>:<name>
		opArgs     []string
		scrapeAuth string // "Bearer <token>" of a ServiceAccount bound to the metrics-reader ClusterRole
		running    *operatorProc
		timingsLog []string
	}
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) (code int) {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if env.cluster != nil {
			fmt.Fprintln(os.Stderr, env.cluster.Logs(4000))
		}
		return 1
	}
	ctx := context.Background()
	started := time.Now()
	root := testenv.Root()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin", "k8s", testenv.K8sVersion)
	}
	env.kubectl = filepath.Join(assets, "kubectl")
	if _, err := os.Stat(env.kubectl); err != nil {
		return fail(fmt.Errorf("kubectl is missing (%w): run `make kubectl`, or the tests through `make e2e`", err))
	}
	var err error
	if env.helm, err = findHelm(root); err != nil {
		return fail(err)
	}
	if env.tmp, err = os.MkdirTemp("", "leap-e2e-"); err != nil {
		return fail(err)
	}
	defer func() { _ = os.RemoveAll(env.tmp) }()
	env.helmEnv = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(env.tmp, "helm", "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(env.tmp, "helm", "config"),
		"HELM_DATA_HOME="+filepath.Join(env.tmp, "helm", "data"),
	)

	// Build the two operators while the cluster starts.
	env.operator = filepath.Join(env.tmp, "leap-operator-"+version)
	env.upgraded = filepath.Join(env.tmp, "leap-operator-"+nextVersion)
	builds := make(chan error, 1)
	go func() {
		builds <- errors.Join(
			goBuild(root, env.operator, version),
			goBuild(root, env.upgraded, nextVersion),
		)
	}()
	// The chart is installed before the controllers start, so that the
	// garbage collector watches LeapTerms from its start (see
	// cluster.Options.BeforeControllers). The operator's own pod has no image
	// to run here: the chart renders it with no replicas, and the same binary
	// runs as a local process (TestChartInstall).
	c, err := cluster.Start(ctx, cluster.Options{Assets: assets, BeforeControllers: func(_ context.Context, _ *rest.Config, kubeconfig string) error {
		_, err := helm(kubeconfig, "install", releaseName, filepath.Join(root, "charts", "leap-operator"),
			"--namespace", releaseNamespace, "--create-namespace", "--set", "replicaCount=0")
		return err
	}})
	if err != nil {
		return fail(err)
	}
	env.cluster = c
	defer func() {
		if env.running != nil {
			if err := env.running.stop(); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: stop operator:", err)
			}
		}
		if code != 0 {
			fmt.Fprintln(os.Stderr, c.Logs(4000))
		}
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stop cluster:", err)
		}
	}()
	timing("cluster started", started)
	if env.k8s, err = client.New(c.Config, client.Options{Scheme: scheme.New()}); err != nil {
		return fail(err)
	}
	if err := <-builds; err != nil {
		return fail(err)
	}
	timing("operator built (twice)", started)
	code = m.Run()
	timing("suite", started)
	for _, l := range env.timingsLog {
		fmt.Println("e2e timing:", l)
	}
	return code
}

func timing(what string, since time.Time) {
	env.timingsLog = append(env.timingsLog, fmt.Sprintf("%s after %s", what, time.Since(since).Round(10*time.Millisecond)))
}

// goBuild builds the operator stamped with v, as `make build` does.
func goBuild(root, out, v string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+v, "-o", out, "./operator/cmd/manager") //nolint:noctx // bounded by go test's timeout
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build the operator: %w\n%s", err, b)
	}
	return nil
}

// findHelm is $HELM, else the one helm of bin/tools.
func findHelm(root string) (string, error) {
	if h := os.Getenv("HELM"); h != "" {
		if _, err := os.Stat(h); err != nil {
			return "", fmt.Errorf("HELM=%s: %w: run `make helm`", h, err)
		}
		return h, nil
	}
	found, _ := filepath.Glob(filepath.Join(root, "bin", "tools", "helm-v*"))
	if len(found) != 1 {
		return "", fmt.Errorf("want one helm in bin/tools, found %v: run `make helm`, or set HELM", found)
	}
	return found[0], nil
}

// kubectl runs kubectl as the administrator.
func kubectl(args ...string) (string, error) {
	cmd := exec.Command(env.kubectl, append([]string{"--kubeconfig", env.cluster.Kubeconfig}, args...)...) //nolint:noctx // bounded by go test's timeout
	b, err := cmd.CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return string(b), nil
}

// helm runs helm with kubeconfig.
func helm(kubeconfig string, args ...string) (string, error) {
	cmd := exec.Command(env.helm, append(args, "--kubeconfig", kubeconfig)...) //nolint:noctx // bounded by go test's timeout
	cmd.Env = env.helmEnv
	b, err := cmd.CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return string(b), nil
}

// operatorProc is the operator binary running as a local process.
type operatorProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
	log     string
	metrics string // https://127.0.0.1:port/metrics
}

// startOperator runs bin with env.opArgs, as the chart's ServiceAccount, and
// waits for its /readyz.
func startOperator(bin string) (*operatorProc, error) {
	return startOperatorAs(bin, env.opArgs, env.opKubecfg)
}

// startOperatorAs runs bin with a release's flags and the kubeconfig of its
// ServiceAccount, and waits for its /readyz.
func startOperatorAs(bin string, opArgs []string, kubeconfig string) (*operatorProc, error) {
	ports, err := cluster.FreePorts(2)
	if err != nil {
		return nil, err
	}
	args := append([]string{}, opArgs...)
	args = append(args,
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(ports[0]),
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(ports[1]),
	)
	logPath := filepath.Join(env.tmp, fmt.Sprintf("operator-%d.log", time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...) //nolint:noctx,gosec // our own build; stop ends it
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, err
	}
	p := &operatorProc{cmd: cmd, done: make(chan struct{}), log: logPath, metrics: fmt.Sprintf("https://127.0.0.1:%d/metrics", ports[0])}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1])
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("the operator exited: %w\n%s", p.err, p.logs())
		default:
		}
		if resp, err := http.Get(readyz); err == nil { //nolint:noctx,gosec // loopback probe
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			_ = p.stop()
			return nil, fmt.Errorf("the operator is not ready after 30s\n%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits; the operator must stop within 10 s.
func (p *operatorProc) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return errors.New("the operator did not stop within 10s of SIGTERM")
	}
}

func (p *operatorProc) logs() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// reconciles is the operator's count of reconciles that did not fail
// (success, requeue, requeue_after).
func (p *operatorProc) reconciles() (int, error) {
	resp, err := p.scrape(env.scrapeAuth)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", p.metrics, resp.Status)
	}
	n := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "controller_runtime_reconcile_total{") && strings.Contains(line, `controller="leapterm"`) && !strings.Contains(line, `result="error"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return 0, err
			}
			n += int(v)
		}
	}
	return n, sc.Err()
}

// scrape GETs the operator's metrics as Prometheus does, over HTTPS with the
// Authorization header auth (none when empty). The certificate is the
// operator's self-signed one, which the chart's ServiceMonitor accepts too.
func (p *operatorProc) scrape(auth string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, p.metrics, nil) //nolint:noctx // bounded by the client's timeout
	if err != nil {
		return nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the operator's self-signed certificate, on loopback
	}}
	return hc.Do(req)
}

// impersonating is the administrator's configuration acting as user.
func impersonating(user string) *rest.Config {
	cfg := rest.CopyConfig(env.cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return cfg
}

// chartDeployment is the operator Deployment of the release.
func chartDeployment(ctx context.Context) (*appsv1.Deployment, error) {
	list := &appsv1.DeploymentList{}
	if err := env.k8s.List(ctx, list, client.InNamespace(releaseNamespace), client.MatchingLabels{"app.kubernetes.io/instance": releaseName}); err != nil {
		return nil, err
	}
	if len(list.Items) != 1 {
		return nil, fmt.Errorf("want one Deployment of release %s, found %d", releaseName, len(list.Items))
	}
	return &list.Items[0], nil
}
