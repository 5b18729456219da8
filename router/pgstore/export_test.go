package pgstore

// LockNSOrg is the advisory-lock namespace of one routing transaction per
// org, for tests that play another engine holding an org.
const LockNSOrg = lockNSOrg
