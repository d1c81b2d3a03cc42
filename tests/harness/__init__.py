"""A real local Kubernetes control plane for tests and the demo.

etcd, kube-apiserver and kube-controller-manager are built from the Kubernetes Go
modules (build-controlplane.sh). The node agent (nodeagent.py) plays kubelet on one
Node. See README.md in this folder for what is real and what is mapped.
"""
