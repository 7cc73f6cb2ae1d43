// Package openstack holds every gophercloud call of hardenctl: authentication (clouds.yaml or
// OS_* variables), retries with backoff, and the security group, server and image operations
// that satisfy the small interfaces declared by plan, apply and the packages above them.
package openstack
