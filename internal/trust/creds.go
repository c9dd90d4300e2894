package trust

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// The HKDF labels of the keys derived from a secret. Changing one is a
// protocol change: members with different labels cannot talk.
const (
	labelGossip = "sluice gossip key v1"
	labelCA     = "sluice rpc ca v1"
)

// serverName is the name every derived leaf certificate carries. Peers are
// checked by their chain to the CA, not by address: members move between
// addresses, and a cluster secret names a cluster, not a host.
const serverName = "sluice"

// TLSFiles name a certificate authority of the operator's, which replaces
// the certificates derived from the secret for RPC: this member's
// certificate and key, and the CA certificates its peers' must chain to.
type TLSFiles struct {
	Cert, Key, CA string
}

// Creds are a member's credentials: gossip keys and TLS configurations.
// They are safe for concurrent use.
type Creds struct {
	secrets [][]byte
	leaf    tls.Certificate
	roots   *x509.CertPool
	files   *TLSFiles // nil: derived from the secrets
}

// New derives credentials from secrets (the one in use first; at least
// one). With files, RPC uses the operator's certificates instead of ones
// derived from the secrets.
func New(secrets [][]byte, files *TLSFiles) (*Creds, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret", ErrBadSecret)
	}
	for i, s := range secrets {
		if len(s) < MinSecretLen {
			return nil, fmt.Errorf("%w: secret %d is %d bytes, at least %d needed", ErrBadSecret, i+1, len(s), MinSecretLen)
		}
	}
	c := &Creds{roots: x509.NewCertPool()}
	for _, s := range secrets {
		c.secrets = append(c.secrets, append([]byte(nil), s...))
	}
	if files != nil {
		f := *files
		c.files = &f
		if err := c.loadFiles(); err != nil {
			return nil, err
		}
		return c, nil
	}
	var signer ed25519.PrivateKey
	var signerCert *x509.Certificate
	for i, s := range secrets {
		key, cert, err := deriveCA(s)
		if err != nil {
			return nil, err
		}
		c.roots.AddCert(cert)
		if i == 0 {
			signer, signerCert = key, cert
		}
	}
	leaf, err := newLeaf(signer, signerCert)
	if err != nil {
		return nil, err
	}
	c.leaf = leaf
	return c, nil
}

func (c *Creds) loadFiles() error {
	f := c.files
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return errors.New("trust: --tls-cert, --tls-key and --tls-ca go together: give all three or none")
	}
	leaf, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return fmt.Errorf("trust: --tls-cert %s / --tls-key %s: %w", f.Cert, f.Key, err)
	}
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		return fmt.Errorf("trust: --tls-ca: %w", err)
	}
	if !c.roots.AppendCertsFromPEM(ca) {
		return fmt.Errorf("trust: --tls-ca %s holds no PEM certificate", f.CA)
	}
	c.leaf = leaf
	return nil
}

// deriveCA returns the CA key and certificate of a secret: the same bytes
// in every process, since Ed25519 signatures are deterministic and every
// field of the template is fixed.
func deriveCA(secret []byte) (ed25519.PrivateKey, *x509.Certificate, error) {
	seed, err := hkdf.Key(sha256.New, secret, nil, labelCA, ed25519.SeedSize)
	if err != nil {
		return nil, nil, err
	}
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	id := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sluice cluster CA " + hex.EncodeToString(id[:8])},
		NotBefore:             time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign,
		SubjectKeyId:          id[:20],
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, pub, key)
	if err != nil {
		return nil, nil, fmt.Errorf("trust: deriving the CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return key, cert, nil
}

// newLeaf makes this process a fresh key and a certificate for it signed by
// the CA. The key never leaves the process.
func newLeaf(caKey ed25519.PrivateKey, ca *x509.Certificate) (tls.Certificate, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: serverName + " member"},
		DNSNames:       []string{serverName},
		NotBefore:      now.Add(-24 * time.Hour), // tolerates skewed clocks
		NotAfter:       now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		AuthorityKeyId: ca.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("trust: making a leaf certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// GossipKeys returns the gossip encryption keys, 32 bytes each, the one in
// use first.
func (c *Creds) GossipKeys() [][]byte {
	keys := make([][]byte, len(c.secrets))
	for i, s := range c.secrets {
		k, err := hkdf.Key(sha256.New, s, nil, labelGossip, 32)
		if err != nil {
			panic(err) // SHA-256 and 32 bytes are always valid
		}
		keys[i] = k
	}
	return keys
}

// ErrPeerNotTrusted is wrapped by the error of a TLS handshake whose peer
// did not present a certificate from this cluster's CA.
var ErrPeerNotTrusted = errors.New("the peer's certificate is not from this cluster's secret")

// verify checks a peer's certificate chain against the cluster's CAs. The
// peer's address is not checked: see serverName.
func (c *Creds) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: it presented none", ErrPeerNotTrusted)
	}
	opts := x509.VerifyOptions{
		Roots:         c.roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	for _, ic := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(ic)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return fmt.Errorf("%w (%v)", ErrPeerNotTrusted, err)
	}
	return nil
}

// ServerTLS returns the configuration of a server: TLS 1.3 only, and a
// client certificate from the cluster's CA required.
func (c *Creds) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{c.leaf},
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: c.verify,
		NextProtos:       []string{"http/1.1"},
	}
}

// ClientTLS returns the configuration of a client: TLS 1.3 only, with this
// member's certificate, accepting servers whose certificate chains to the
// cluster's CA.
func (c *Creds) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.leaf},
		// The chain is checked by VerifyConnection, without a host name:
		// see serverName.
		InsecureSkipVerify: true,
		VerifyConnection:   c.verify,
		ServerName:         serverName,
		NextProtos:         []string{"http/1.1"},
	}
}

// Fingerprint returns a short, non-secret name of the secret in use, for
// logs: two members with different fingerprints do not share a secret.
func (c *Creds) Fingerprint() string {
	k, _ := hkdf.Key(sha256.New, c.secrets[0], nil, "sluice fingerprint v1", 4)
	return hex.EncodeToString(k)
}

// exported is what Export writes: the secrets and the operator's files.
type exported struct {
	Secrets []string  `json:"secrets"` // hex
	TLS     *TLSFiles `json:"tls,omitempty"`
}

// Export encodes c for a child process (an executor), which Imports it and
// makes a leaf certificate of its own. It holds the secrets: pass it only
// through a pipe, never an argument or a file others can read.
func (c *Creds) Export() []byte {
	e := exported{TLS: c.files}
	for _, s := range c.secrets {
		e.Secrets = append(e.Secrets, hex.EncodeToString(s))
	}
	b, _ := json.Marshal(e)
	return b
}

// Import decodes what Export wrote.
func Import(b []byte) (*Creds, error) {
	var e exported
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: credentials from the worker: %v", ErrBadSecret, err)
	}
	secrets := make([][]byte, len(e.Secrets))
	for i, s := range e.Secrets {
		var err error
		if secrets[i], err = hex.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%w: credentials from the worker: %v", ErrBadSecret, err)
		}
	}
	return New(secrets, e.TLS)
}
