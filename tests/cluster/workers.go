package main

// Starting the parts of the cluster that are ours: the local volume provisioner and the nodes.

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startWorkers starts the provisioner and the nodes, and waits until every node is Ready and
// the node lifecycle controller has lifted its not-ready taint (so pods schedule at once).
func (c *cluster) startWorkers(ready context.Context, p ports, adminToken string) error {
	ctx, cancel := context.WithCancel(context.Background())
	c.stopNodes = cancel
	admin, err := adminClient(c.url, adminToken, c.l.path("ca.crt"))
	if err != nil {
		return err
	}
	prov := &provisioner{client: admin, dir: c.l.path("volumes"), logf: func(f string, a ...any) { say("provisioner: "+f, a...) }}
	if err := prov.start(ctx); err != nil {
		return err
	}
	nodes, err := c.startNodes(ctx, p.apiserver)
	c.nodes = nodes
	if err != nil {
		return err
	}
	for {
		pending := []string{}
		for _, n := range nodes {
			nd, err := admin.CoreV1().Nodes().Get(ready, n.name, metav1.GetOptions{})
			if err != nil {
				pending = append(pending, n.name+": "+err.Error())
				continue
			}
			for _, t := range nd.Spec.Taints {
				if t.Key == corev1.TaintNodeNotReady && t.Effect == corev1.TaintEffectNoSchedule {
					pending = append(pending, n.name+" still tainted "+t.Key)
				}
			}
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-ready.Done():
			return fmt.Errorf("nodes not ready: %s", strings.Join(pending, "; "))
		case <-time.After(200 * time.Millisecond):
		}
	}
	var desc []string
	for _, n := range nodes {
		desc = append(desc, fmt.Sprintf("%s (%s, %s)", n.name, n.ip, n.zone))
	}
	say("%d nodes ready: %s; pods get addresses of %s", len(nodes), strings.Join(desc, ", "), c.o.kubelet.podNetwork)
	return nil
}
