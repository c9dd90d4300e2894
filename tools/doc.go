// Package tools pins the programs Sluice's tests run but its code does not
// import, in a module of their own so the main module stays lean:
// versitygw, the S3 server of the object-storage tests
// (internal/s3test builds it with `go -C tools tool -n versitygw`).
package tools
