// Package simnet is a seeded in-memory network for memberlist, for tests of
// membership under faults.
//
// A Network hands out transports bound to fake addresses ("10.0.0.1:7946")
// that are never dialled for real. Packets (memberlist's UDP side) go into
// the receiver's bounded queue: a send never blocks, and a packet that meets
// a fault or a full queue is lost and counted. Streams (the TCP side) are
// buffered in-memory connections that fail at once, with ErrReset, when
// either end crashes or a partition separates them. Faults:
//
//   - Drop(rate): packet loss drawn from the seed;
//   - Delay(d): latency added to each packet on a timer, the sender never waits;
//   - Partition(a, b) and Heal(): no traffic between two groups of addresses;
//   - Crash(addr) and Restart(addr): a node that neither sends nor receives.
//
// Time comes only from the time package, so inside a testing/synctest bubble
// delays and deadlines run on the bubble's virtual clock. simnet starts no
// goroutines of its own except the timers that deliver delayed packets.
//
// A three-node cluster with one node cut off:
//
//	sn := simnet.New(1)
//	for _, addr := range []string{"10.0.0.1:7946", "10.0.0.2:7946", "10.0.0.3:7946"} {
//		t, err := sn.Transport(addr)
//		if err != nil {
//			return err
//		}
//		cfg := membership.DefaultConfig()
//		cfg.Transport = t
//		...
//	}
//	sn.Partition([]string{"10.0.0.1:7946", "10.0.0.2:7946"}, []string{"10.0.0.3:7946"})
//	...
//	sn.Heal()
package simnet
