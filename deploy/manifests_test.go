package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const manifests = "kubernetes"

// objects are the decoded manifests.
type objects struct {
	secrets      []*corev1.Secret
	services     []*corev1.Service
	statefulSets []*appsv1.StatefulSet
	deployments  []*appsv1.Deployment
	jobs         []*batchv1.Job
	pdbs         []*policyv1.PodDisruptionBudget
}

// kinds maps apiVersion/kind to a fresh typed object.
var kinds = map[string]func(o *objects) any{
	"v1/Secret":                     func(o *objects) any { v := &corev1.Secret{}; o.secrets = append(o.secrets, v); return v },
	"v1/Service":                    func(o *objects) any { v := &corev1.Service{}; o.services = append(o.services, v); return v },
	"apps/v1/StatefulSet":           func(o *objects) any { v := &appsv1.StatefulSet{}; o.statefulSets = append(o.statefulSets, v); return v },
	"apps/v1/Deployment":            func(o *objects) any { v := &appsv1.Deployment{}; o.deployments = append(o.deployments, v); return v },
	"batch/v1/Job":                  func(o *objects) any { v := &batchv1.Job{}; o.jobs = append(o.jobs, v); return v },
	"policy/v1/PodDisruptionBudget": func(o *objects) any { v := &policyv1.PodDisruptionBudget{}; o.pdbs = append(o.pdbs, v); return v },
}

// strict decodes YAML into v: duplicate keys and fields v's type lacks
// are errors.
func strict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}

// documents splits a YAML stream at its "---" lines, dropping empty ones.
func documents(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), b...), []byte("\n---")) {
		if rest, ok := bytes.CutPrefix(d, []byte("\n")); ok || len(d) > 0 {
			if !ok {
				rest = d
			}
			if len(bytes.TrimSpace(stripComments(rest))) > 0 {
				docs = append(docs, rest)
			}
		}
	}
	return docs
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(append(out, l...), '\n')
		}
	}
	return out
}

// decodeAll decodes every document of a YAML stream into o.
func decodeAll(name string, b []byte, o *objects) error {
	for i, doc := range documents(b) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return fmt.Errorf("%s document %d: %v", name, i+1, err)
		}
		mk, ok := kinds[tm.APIVersion+"/"+tm.Kind]
		if !ok {
			return fmt.Errorf("%s document %d: %s %s is not a kind this test knows: add it to kinds", name, i+1, tm.APIVersion, tm.Kind)
		}
		if err := strict(doc, mk(o)); err != nil {
			return fmt.Errorf("%s document %d (%s): %v", name, i+1, tm.Kind, err)
		}
	}
	return nil
}

// kustomization is the part of kustomize's Kustomization these manifests
// use; anything else in the file is an error, so this test sees all of it.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// load decodes the kustomization and every manifest in files (name to
// content) strictly, and checks that the kustomization lists them all.
func load(files map[string][]byte) (*objects, error) {
	var k kustomization
	if err := strict(files["kustomization.yaml"], &k); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		return nil, fmt.Errorf("kustomization.yaml is %s %s", k.APIVersion, k.Kind)
	}
	o := &objects{}
	var names []string
	for name, b := range files {
		if name == "kustomization.yaml" {
			continue
		}
		names = append(names, name)
		if err := decodeAll(name, b, o); err != nil {
			return nil, err
		}
	}
	slices.Sort(names)
	if got := slices.Sorted(slices.Values(k.Resources)); !slices.Equal(got, names) {
		return nil, fmt.Errorf("kustomization.yaml lists %v; the directory holds %v", got, names)
	}
	return o, nil
}

func readManifests(t *testing.T) map[string][]byte {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(manifests, "*.yaml"))
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	if len(files) < 2 {
		t.Fatalf("no manifests in %s", manifests)
	}
	return files
}

// TestManifests decodes every manifest under kubernetes/ strictly and
// checks the invariants; the kustomization lists every one of them.
func TestManifests(t *testing.T) {
	o, err := load(readManifests(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkInvariants(o) {
		t.Error(p)
	}
}

// TestManifestMistakesCaught: each mistake, made in a copy of the
// manifests, is caught by the decoding or the checks.
func TestManifestMistakesCaught(t *testing.T) {
	for _, m := range []struct{ file, old, new, want string }{
		{"task-deployment.yaml", "terminationGracePeriodSeconds: 120", "terminationGracePeriodSeconds: 60", "not above --drain-timeout"},
		{"core-statefulset.yaml", "terminationGracePeriodSeconds: 120", "terminationGracePeriodSeconds: 90", "not above --drain-timeout"},
		{"task-deployment.yaml", "--join=sluice-core:7946", "--join=sluice-cor:7946", "does not resolve to Service"},
		{"driver-job.yaml", "--join=sluice-core:7946", "--join=sluice-core:7947", "not a TCP port"},
		{"task-deployment.yaml", "            - --drain-timeout=90s\n", "", "no --drain-timeout"},
		{"driver-job.yaml", "mountPath: /etc/sluice/secret\n", "mountPath: /etc/sluice/other\n", "nothing is mounted"},
		{"core-statefulset.yaml", "secretName: sluice-secret", "secretName: sluice-secrets", "not among the manifests"},
		{"driver-job.yaml", "              memory: 2Gi\n            limits:", "            limits:", "no memory request"},
		{"task-deployment.yaml", "      tolerations:", "      tolerationz:", "unknown field"},
		{"core-pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 1\n  maxUnavailable: 2", "already set"},
		{"task-deployment.yaml", "- --dir=/scratch/worker", "- --dir=/var/worker", "not on an emptyDir"},
		{"core-statefulset.yaml", "mountPath: /var/lib/sluice\n", "mountPath: /var/lib/other\n", "not on a persistent volume claim"},
		{"task-deployment.yaml", "values: [\"spot\"]", "values: [\"on-demand\"]", "not placed on a spot pool"},
		{"core-service.yaml", "clusterIP: None", "clusterIP: 10.0.0.1", "not a headless Service"},
	} {
		files := readManifests(t)
		old := m.old
		if !bytes.Contains(files[m.file], []byte(old)) {
			t.Fatalf("%s holds no %q: update this test", m.file, old)
		}
		files[m.file] = bytes.Replace(files[m.file], []byte(old), []byte(m.new), 1)
		o, err := load(files)
		var problems []string
		if err != nil {
			problems = []string{err.Error()}
		} else {
			problems = checkInvariants(o)
		}
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, m.want) }) {
			t.Errorf("%s: %q -> %q: want a problem with %q, got %q", m.file, m.old, m.new, m.want, problems)
		}
	}
}

// TestKustomizeRenders renders the kustomization offline with kubectl,
// when there is one, and checks what it renders as TestManifests checks
// the files.
func TestKustomizeRenders(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl on PATH to render the kustomization with")
	}
	cmd := exec.Command(kubectl, "kustomize", manifests)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatal("kubectl kustomize took over a minute")
	}
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v: %s", manifests, err, errb.String())
	}
	o := &objects{}
	if err := decodeAll("kubectl kustomize output", out.Bytes(), o); err != nil {
		t.Fatal(err)
	}
	for _, p := range checkInvariants(o) {
		t.Error(p)
	}
	for _, d := range o.deployments {
		if d.Labels["app.kubernetes.io/part-of"] != "sluice" {
			t.Errorf("the rendered %s lacks the kustomization's labels", d.Name)
		}
	}
}

// flag returns the value of --name=V or --name V in args, and whether it
// is there.
func flag(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

type workload struct {
	kind, name string
	pod        *corev1.PodTemplateSpec
	claims     []corev1.PersistentVolumeClaim
}

// checkInvariants returns the problems it finds, one sentence each.
func checkInvariants(o *objects) []string {
	var problems []string
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(o.statefulSets) != 1 || len(o.deployments) != 1 || len(o.jobs) == 0 || len(o.pdbs) != 1 || len(o.secrets) == 0 {
		errorf("want one core StatefulSet, one task Deployment, a PodDisruptionBudget, a Secret and driver Jobs; have %d, %d, %d, %d, %d",
			len(o.statefulSets), len(o.deployments), len(o.pdbs), len(o.secrets), len(o.jobs))
		return problems
	}
	core, task := o.statefulSets[0], o.deployments[0]
	var ws []workload
	ws = append(ws, workload{"StatefulSet", core.Name, &core.Spec.Template, core.Spec.VolumeClaimTemplates})
	ws = append(ws, workload{"Deployment", task.Name, &task.Spec.Template, nil})
	for _, j := range o.jobs {
		ws = append(ws, workload{"Job", j.Name, &j.Spec.Template, nil})
	}

	// The headless Service of the core StatefulSet: the join address.
	var svc *corev1.Service
	for _, s := range o.services {
		if s.Name == core.Spec.ServiceName {
			svc = s
		}
	}
	if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		errorf("the core StatefulSet's serviceName %q is not a headless Service here", core.Spec.ServiceName)
		return problems
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(core.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		errorf("Service %s does not select the core pods", svc.Name)
	}
	sel, err := metav1.LabelSelectorAsSelector(core.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(core.Spec.Template.Labels)) {
		errorf("StatefulSet %s's selector does not match its pods: %v", core.Name, err)
	}
	for _, w := range ws {
		if w.kind == "Job" {
			continue
		}
		if sel, err := metav1.LabelSelectorAsSelector(selectorOf(o, w)); err == nil && w.kind == "Deployment" && sel.Matches(labels.Set(core.Spec.Template.Labels)) {
			errorf("%s %s's selector also matches the core pods", w.kind, w.name)
		}
	}
	pdbSel, err := metav1.LabelSelectorAsSelector(o.pdbs[0].Spec.Selector)
	if err != nil || !pdbSel.Matches(labels.Set(core.Spec.Template.Labels)) || pdbSel.Matches(labels.Set(task.Spec.Template.Labels)) {
		errorf("PodDisruptionBudget %s must select the core pods and only them (%v)", o.pdbs[0].Name, err)
	}
	if o.pdbs[0].Spec.MaxUnavailable == nil && o.pdbs[0].Spec.MinAvailable == nil {
		errorf("PodDisruptionBudget %s sets neither maxUnavailable nor minAvailable", o.pdbs[0].Name)
	}

	for _, w := range ws {
		spec := &w.pod.Spec
		if len(spec.Containers) == 0 {
			errorf("%s %s has no containers", w.kind, w.name)
		}
		for _, c := range spec.Containers {
			where := fmt.Sprintf("%s %s container %s", w.kind, w.name, c.Name)
			args := append(slices.Clone(c.Command), c.Args...)
			// Resources set.
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
					errorf("%s: no %s request", where, r)
				}
			}
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
				errorf("%s: no memory limit", where)
			}
			// The join address resolves to the core Service.
			join, ok := flag(args, "join")
			if !ok {
				errorf("%s: no --join", where)
			} else {
				checkJoin(errorf, where, join, svc, core)
			}
			// The secret is mounted where --secret-file points.
			sf, ok := flag(args, "secret-file")
			if !ok {
				errorf("%s: no --secret-file: members off loopback need the cluster secret", where)
			} else {
				checkSecret(errorf, where, sf, c, spec, o.secrets)
			}
			// An emptyDir /tmp under a read-only root.
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				errorf("%s: the root file system is not read-only", where)
			}
			if v := mountedVolume(c, spec, "/tmp"); v == nil || v.EmptyDir == nil {
				errorf("%s: /tmp is not an emptyDir", where)
			}
			if len(args) > 0 && args[0] != "worker" {
				continue
			}
			// Workers: the grace period covers the drain.
			dt, ok := flag(args, "drain-timeout")
			if !ok {
				errorf("%s: no --drain-timeout: set it, so the grace period can be checked against it", where)
				continue
			}
			d, err := time.ParseDuration(dt)
			grace := spec.TerminationGracePeriodSeconds
			if err != nil || grace == nil || time.Duration(*grace)*time.Second <= d {
				errorf("%s: terminationGracePeriodSeconds %v is not above --drain-timeout %s (%v): a SIGTERM drain would be cut short", where, ptrString(grace), dt, err)
			}
			listen, _ := flag(args, "listen")
			if !strings.HasPrefix(listen, "$(POD_IP):") || !hasFieldEnv(c, "POD_IP", "status.podIP") {
				errorf("%s: --listen %q must be $(POD_IP):PORT with POD_IP from status.podIP", where, listen)
			}
			dir, _ := flag(args, "dir")
			role, _ := flag(args, "role")
			vol, claim := dirVolume(c, spec, w.claims, dir)
			switch {
			case role == "core" && claim == nil:
				errorf("%s: a core worker's --dir %q is not on a persistent volume claim", where, dir)
			case role == "task" && (vol == nil || vol.EmptyDir == nil):
				errorf("%s: a task worker's --dir %q is not on an emptyDir", where, dir)
			case role != "core" && role != "task":
				errorf("%s: --role %q", where, role)
			}
			if role == "task" && !onSpot(spec) {
				errorf("%s: task workers are not placed on a spot pool (no spot node affinity and tolerations)", where)
			}
		}
	}
	return problems
}

func selectorOf(o *objects, w workload) *metav1.LabelSelector {
	for _, d := range o.deployments {
		if d.Name == w.name {
			return d.Spec.Selector
		}
	}
	return &metav1.LabelSelector{}
}

func ptrString(p *int64) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(*p, 10)
}

// checkJoin: the join host is the Service's name (any of its DNS forms)
// or a core pod's (NAME-N.SERVICE), and its port one the Service and the
// core container serve over TCP.
func checkJoin(errorf func(string, ...any), where, join string, svc *corev1.Service, core *appsv1.StatefulSet) {
	host, port, err := net.SplitHostPort(join)
	if err != nil {
		errorf("%s: --join %q: %v", where, join, err)
		return
	}
	labels := strings.Split(host, ".")
	var svcPart []string
	switch {
	case labels[0] == svc.Name:
		svcPart = labels
	case len(labels) > 1 && labels[1] == svc.Name && strings.HasPrefix(labels[0], core.Name+"-"):
		if _, err := strconv.Atoi(strings.TrimPrefix(labels[0], core.Name+"-")); err != nil {
			errorf("%s: --join host %s is no pod of StatefulSet %s", where, host, core.Name)
		}
		svcPart = labels[1:]
	default:
		errorf("%s: --join host %s does not resolve to Service %s", where, host, svc.Name)
		return
	}
	// SERVICE, SERVICE.NAMESPACE, SERVICE.NAMESPACE.svc[.cluster.local]
	if len(svcPart) > 2 && svcPart[2] != "svc" {
		errorf("%s: --join host %s is not a Service name", where, host)
	}
	p, _ := strconv.Atoi(port)
	served := false
	for _, sp := range svc.Spec.Ports {
		if int(sp.Port) == p && (sp.Protocol == corev1.ProtocolTCP || sp.Protocol == "") {
			served = true
		}
	}
	if !served {
		errorf("%s: --join port %s is not a TCP port of Service %s", where, port, svc.Name)
	}
	for _, c := range core.Spec.Template.Spec.Containers {
		if l, ok := flag(c.Args, "listen"); ok && !strings.HasSuffix(l, ":"+port) {
			errorf("%s: --join port %s, but the core workers listen on %s", where, port, l)
		}
	}
}

// checkSecret: the --secret-file is a key of a Secret in the manifests,
// mounted read-only at its directory.
func checkSecret(errorf func(string, ...any), where, file string, c corev1.Container, spec *corev1.PodSpec, secrets []*corev1.Secret) {
	dir, key := path.Split(file)
	var m *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if path.Clean(c.VolumeMounts[i].MountPath) == path.Clean(dir) {
			m = &c.VolumeMounts[i]
		}
	}
	if m == nil {
		errorf("%s: nothing is mounted at %s, the --secret-file's directory", where, dir)
		return
	}
	if !m.ReadOnly {
		errorf("%s: the secret at %s is mounted writable", where, dir)
	}
	v := volume(spec, m.Name)
	if v == nil || v.Secret == nil {
		errorf("%s: %s is not a Secret volume", where, dir)
		return
	}
	for _, s := range secrets {
		if s.Name == v.Secret.SecretName {
			if _, ok := s.StringData[key]; ok {
				return
			}
			if _, ok := s.Data[key]; ok {
				return
			}
			errorf("%s: Secret %s has no key %q for --secret-file %s", where, s.Name, key, file)
			return
		}
	}
	errorf("%s: Secret %s is not among the manifests", where, v.Secret.SecretName)
}

func volume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// mountedVolume returns the volume mounted exactly at p.
func mountedVolume(c corev1.Container, spec *corev1.PodSpec, p string) *corev1.Volume {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == p {
			return volume(spec, m.Name)
		}
	}
	return nil
}

// dirVolume returns the volume or claim template whose mount holds dir.
func dirVolume(c corev1.Container, spec *corev1.PodSpec, claims []corev1.PersistentVolumeClaim, dir string) (*corev1.Volume, *corev1.PersistentVolumeClaim) {
	best := ""
	var name string
	for _, m := range c.VolumeMounts {
		mp := path.Clean(m.MountPath)
		if (dir == mp || strings.HasPrefix(dir, mp+"/")) && len(mp) > len(best) {
			best, name = mp, m.Name
		}
	}
	if name == "" {
		return nil, nil
	}
	for i := range claims {
		if claims[i].Name == name {
			return nil, &claims[i]
		}
	}
	return volume(spec, name), nil
}

func hasFieldEnv(c corev1.Container, name, field string) bool {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == field {
			return true
		}
	}
	return false
}

// spotLabels are the node labels of spot capacity on the common clouds
// and autoscalers.
var spotLabels = map[string]string{
	"karpenter.sh/capacity-type":            "spot",
	"eks.amazonaws.com/capacityType":        "SPOT",
	"cloud.google.com/gke-spot":             "true",
	"kubernetes.azure.com/scalesetpriority": "spot",
}

// onSpot: the pod may only go to nodes with a spot label (by nodeSelector
// or required node affinity, every term naming one), and tolerates the
// spot taints.
func onSpot(spec *corev1.PodSpec) bool {
	for k, v := range spec.NodeSelector {
		if spotLabels[k] == v {
			return tolerates(spec)
		}
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for _, term := range terms {
		spot := false
		for _, e := range term.MatchExpressions {
			if v, ok := spotLabels[e.Key]; ok && e.Operator == corev1.NodeSelectorOpIn && slices.Equal(e.Values, []string{v}) {
				spot = true
			}
		}
		if !spot {
			return false
		}
	}
	return len(terms) > 0 && tolerates(spec)
}

func tolerates(spec *corev1.PodSpec) bool {
	n := 0
	for _, tol := range spec.Tolerations {
		if v, ok := spotLabels[tol.Key]; ok && (tol.Operator == corev1.TolerationOpExists || tol.Value == v) {
			n++
		}
	}
	return n == len(spotLabels)
}
