package config

// For the tests of package config_test.
var (
	GenZonesSource = genZonesSource
	TryLoad        = tryLoad
)
