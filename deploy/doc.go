// Package deploy holds Sluice's deployment files and their checks:
// kubernetes/ (plain manifests and a kustomization) and
// manifests_test.go, which decodes every manifest strictly into the
// Kubernetes API types and checks the invariants a running cluster
// depends on. It is a module of its own so the main module does not
// depend on k8s.io/api; .ci/run tests it.
package deploy
