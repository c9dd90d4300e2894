// Package trust holds what members of a Sluice cluster use to recognise
// each other: the cluster secret and what is derived from it.
//
// A cluster secret is a random string every member has (a file made by
// `sluice secret new`, mode 0600). From it, with HKDF-SHA256 under fixed
// labels, each member derives
//
//   - the gossip key: memberlist encrypts and authenticates every gossip
//     packet and stream with it (AES-256-GCM), so an outsider can neither
//     join nor read who is a member;
//   - a certificate authority: an Ed25519 key and a self-signed certificate,
//     the same in every process that has the secret. Each process makes
//     itself a fresh leaf certificate signed by that CA at start. RPC, binary
//     uploads and shuffle fetches run over TLS 1.3 with both sides presenting
//     a leaf: a peer is accepted only if its leaf chains to the CA, so both
//     sides are authenticated, every response too, and TLS's fresh session
//     keys make a recorded request worthless (no replay).
//
// An operator with a CA of their own gives --tls-cert, --tls-key and --tls-ca
// instead; those replace the derived certificates for RPC, and the secret
// still keys gossip.
//
// A secret file may hold several secrets, one per line. The first is the one
// this member uses (its gossip primary key and the CA that signs its leaf);
// every line is accepted from peers. That is how a secret is rotated without
// stopping the cluster (see `sluice secret rotate`).
//
// An empty secret is never a key. Without a secret a member either uses the
// per-user development secret (loopback only: see DevSecretFile) or runs with
// nothing at all when the operator says --insecure.
//
// A short use:
//
//	secrets, err := trust.ReadSecretFile("/etc/sluice/secret")
//	creds, err := trust.New(secrets, nil)
//	srv := rpc.NewServer(rpc.ServerConfig{TLS: creds.ServerTLS()})
//	c := rpc.NewClient(rpc.ClientConfig{TLS: creds.ClientTLS()})
//	mcfg.Keys = creds.GossipKeys()
package trust
