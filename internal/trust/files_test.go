package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// operatorCA writes an operator's CA and two member certificates signed by
// it into dir, and returns their TLSFiles.
func operatorCA(t *testing.T, dir string) (a, b TLSFiles) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ops CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", "CERTIFICATE", caDER)
	member := func(name string) TLSFiles {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name + ".example"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return TLSFiles{Cert: write(name+".pem", "CERTIFICATE", der), Key: write(name+"-key.pem", "EC PRIVATE KEY", kder), CA: caFile}
	}
	return member("worker"), member("driver")
}

// TestOperatorCA: members with certificates from the operator's CA accept
// each other whatever their host names; a member with only the derived
// certificates is refused; incomplete flags are one clear error.
func TestOperatorCA(t *testing.T) {
	a, b := operatorCA(t, t.TempDir())
	s := [][]byte{secret("gossip")}
	ca, err := New(s, &a)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := New(s, &b)
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(ca, cb); err != nil {
		t.Fatalf("two members of the operator's CA: %v", err)
	}
	derived, _ := New(s, nil)
	if handshake(ca, derived) == nil || handshake(derived, ca) == nil {
		t.Fatal("a member without the operator's certificates was accepted")
	}
	if imported, err := Import(ca.Export()); err != nil || handshake(imported, cb) != nil {
		t.Fatalf("an executor's imported credentials: %v", err)
	}
	for _, f := range []TLSFiles{{Cert: a.Cert}, {Cert: a.Cert, Key: a.Key}, {Cert: a.Cert, Key: a.Key, CA: a.Key}, {Cert: a.Key, Key: a.Key, CA: a.CA}} {
		if _, err := New(s, &f); err == nil || !strings.Contains(err.Error(), "--tls-") {
			t.Errorf("New with %+v: %v, want an error naming the flag", f, err)
		}
	}
}
