// Package membership is Sluice's view of its cluster: a thin wrapper over
// hashicorp/memberlist that gossips each node's Meta (role, state, slots,
// RPC address, version) and reports joins, Meta changes, graceful leaves and
// failures as Events.
//
// Workers (role core or task) and drivers (role driver) are all members. A
// driver's scheduler reads Members once and then follows Events; a worker
// about to be decommissioned sets its State to draining with UpdateMeta,
// later calls Leave, then Shutdown. DefaultConfig is tuned for a LAN: a
// member that dies without a word is reported Failed in about 2.5 s.
//
// Events never block memberlist: they are recorded per member, in a
// structure bounded by the cluster's size, and handed to the Events channel
// by one goroutine; see Node.Events for what a slow reader may miss.
//
//	cfg := membership.DefaultConfig()
//	cfg.BindAddr = "0.0.0.0:7946"
//	cfg.Secret = secret
//	cfg.Meta = membership.Meta{Role: membership.RoleCore, Slots: 8, RPC: "10.0.0.5:7070", Version: v}
//	node, err := membership.Start(cfg)
//	if err != nil {
//		return err
//	}
//	defer node.Shutdown()
//	if _, err := node.Join(ctx, []string{"core-1:7946"}); err != nil {
//		return err
//	}
//	for ev := range node.Events() {
//		log.Printf("%s %s (%s, %d slots)", ev.Member.Name, ev.Kind, ev.Member.Meta.Role, ev.Member.Meta.Slots)
//	}
//
// Tests run whole clusters in memory over internal/simnet, inside
// testing/synctest bubbles, so failure detection runs on virtual time.
package membership
