// Package testdata holds example configurations and fixtures shared by tests.
package testdata
